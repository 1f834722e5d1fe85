# The explorer app on CPU: docker build -t aae-explorer . && docker run -p 8501:8501 aae-explorer
# The base image is pinned by tag, not yet by digest: the digest could not be looked up where this was written
# (no registry access). To pin it: docker buildx imagetools inspect python:3.11-slim, then
# FROM python:3.11-slim@sha256:<that digest>.
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt .
# The README's install (pip install -r requirements.txt), with torch==2.13.0 taken from the CPU index: it keeps the
# image small (the default index serves the CUDA build).
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
COPY aae_core ./aae_core
COPY app ./app
COPY checkpoints ./checkpoints
# The classroom server settings (upload limit, no error details for students); Streamlit reads them from the
# working directory.
COPY .streamlit/config.toml ./.streamlit/config.toml

# The app runs unprivileged; the one place it writes is runs/ (models trained in the app). USER by number, so that
# a host or orchestrator checking for a non-root user (runAsNonRoot) can tell without the image's /etc/passwd.
RUN useradd --create-home --uid 10001 explorer && mkdir runs && chown explorer runs
USER 10001

EXPOSE 8501
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health')"]
CMD ["streamlit", "run", "app/streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
