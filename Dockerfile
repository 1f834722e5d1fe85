# The explorer app on CPU: docker build -t aae-explorer . && docker run -p 8501:8501 aae-explorer
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt .
# torch==2.13.0 from the CPU index keeps the image small (the default index serves the CUDA build).
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt
COPY aae_core ./aae_core
COPY app ./app
COPY checkpoints ./checkpoints

EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health')"
CMD ["streamlit", "run", "app/streamlit_app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true"]
