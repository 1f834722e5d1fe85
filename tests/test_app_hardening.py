"""The app on a shared classroom server: checkpoint text stays text, messages name files and not server paths,
a user's folder only inside the folders the operator allows, and the server settings that go with it."""

from __future__ import annotations

import os
import re
import shutil
import tomllib
from pathlib import Path

import pytest
from PIL import Image

from aae_core.checkpoint import load_checkpoint, save_checkpoint
from app.catalog import (
    FOLDER_REFUSED,
    USER_FOLDER_ROOTS_VARIABLE,
    WORD_JOINER,
    FolderRefused,
    find_checkpoints,
    plain,
    user_folder,
    user_folder_roots,
    without_server_paths,
)
from app.digit_input import MAX_UPLOAD_BYTES
from tests.conftest import APP_ENTRY, APP_PAGES, REPO_ROOT

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

REPO = REPO_ROOT
ENTRY, PAGES = APP_ENTRY, APP_PAGES
SHIPPED = REPO / "checkpoints"
LINK = "[click](http://evil.example)"
IMAGE = "![x](http://evil.example/x.png)"
HTML = '<a href="http://evil.example">a</a><img src="http://evil.example/y.png">'
CRAFTED_CLASSES = [
    LINK,
    IMAGE,
    HTML,
    "www.evil.example evil@evil.example",
    ":red[evil] :material/warning:",
    "$evil$",
    "evil\n# a heading",
    "**evil**",
    "evil <b>bold</b>",
    "9",
]
FILE_LINK = "[click](evil.example)"  # a file name cannot hold the slashes of http://
# What must never survive as Markdown syntax in any text that quotes a checkpoint (once escaped characters are
# removed), and what GFM would turn into a link in the text as parsed (escapes resolved).
LIVE_MARKUP = ("[", "]", "<", "$", "\n#")
AUTOLINK = re.compile(r"https?://|www\.|\w@\w", re.IGNORECASE)


def rendered_texts(at: AppTest) -> list[tuple[str, str]]:
    """(element type, string) for every string field of every element and block on the page."""
    found: list[tuple[str, str]] = []

    def strings(message, kind: str) -> None:
        for _, value in message.ListFields():
            items = value if isinstance(value, (list, tuple)) or hasattr(value, "extend") else [value]
            for item in items:
                if isinstance(item, str):
                    found.append((kind, item))
                elif hasattr(item, "ListFields"):
                    strings(item, kind)

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields"):
            strings(proto, getattr(node, "type", "?"))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def live_markup(text: str) -> list[str]:
    """The Markdown or HTML marks in `text` that are not backslash-escaped, and the bare URLs or e-mail addresses
    that GFM would link after parsing (escaped or not)."""
    bare = re.sub(r"\\.", "", text, flags=re.DOTALL)
    parsed = re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)
    return [mark for mark in LIVE_MARKUP if mark in bare] + AUTOLINK.findall(parsed)


def assert_no_live_markup(at: AppTest) -> list[str]:
    """Check every string that quotes the crafted metadata; returns those strings (to show the check is not empty)."""
    quoting = []
    for kind, text in rendered_texts(at):
        if "evil" not in text:
            continue
        quoting.append(text)
        if kind == "bidi_component":  # JSON for latent_pad.js, which writes text as textContent (test_latent_pad.py)
            continue
        if kind == "plotly_chart":  # figure JSON: Plotly reads HTML, not Markdown
            assert not re.search(r"<\s*(a|img|b)\b", text, re.IGNORECASE), text[:300]
        else:
            assert not live_markup(text), (kind, text)
    return quoting


def open_app(page: str | None = None, model: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=120)
    if model:
        at.query_params["model"] = model
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page is not None and page != PAGES[0]:
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def rewrite(source: Path, target: Path, change) -> Path:
    """A copy of a real checkpoint whose metadata (or tensors) `change` has edited in place."""
    checkpoint = load_checkpoint(source)
    change(checkpoint)
    return save_checkpoint(target, checkpoint)


@pytest.fixture(scope="module")
def crafted_dir(tmp_path_factory) -> Path:
    """Shipped checkpoints whose metadata tries to inject links, images, HTML and headings into the page."""
    folder = tmp_path_factory.mktemp("crafted")

    def classes_and_dataset(checkpoint) -> None:
        checkpoint.metadata["dataset"]["name"] = f"{LINK} {IMAGE}\n# heading"
        checkpoint.metadata["dataset"]["classes"] = CRAFTED_CLASSES

    def prior_and_classes(checkpoint) -> None:
        checkpoint.metadata["prior"]["name"] = f"{LINK}{HTML}"
        checkpoint.metadata["dataset"]["classes"] = CRAFTED_CLASSES

    rewrite(SHIPPED / "supervised-2d.safetensors", folder / "crafted-classes.safetensors", classes_and_dataset)
    rewrite(SHIPPED / "semi-supervised-100.safetensors", folder / "crafted-prior.safetensors", prior_and_classes)
    return folder


@pytest.fixture
def serve(monkeypatch, tmp_path):
    """Point the app at `folders` (and a fresh runs folder); no user folders unless `roots` are given."""

    def point(*folders: Path, roots: tuple[Path, ...] = ()) -> None:
        monkeypatch.setenv("AAE_CHECKPOINT_DIRS", os.pathsep.join(str(f) for f in folders))
        monkeypatch.setenv("AAE_RUNS_DIR", str(tmp_path / "runs"))
        if roots:
            monkeypatch.setenv(USER_FOLDER_ROOTS_VARIABLE, os.pathsep.join(str(r) for r in roots))
        else:
            monkeypatch.delenv(USER_FOLDER_ROOTS_VARIABLE, raising=False)

    return point


# ---------------------------------------------------------------------------------------------------- server settings


def test_the_server_settings_suit_a_classroom():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"  # no tracebacks (with server paths) in the browser
    assert config["server"]["maxUploadSize"] * 2**20 <= MAX_UPLOAD_BYTES  # what the app accepts, no more
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False


# ---------------------------------------------------------------------------------------------------- plain text


def test_plain_escapes_every_markdown_special_and_keeps_one_line():
    text = plain("[a](http://x.y) ![i](u) *b* _c_ `d` # e <f> |g| ~h~ $i$ :red[j]\n# k\r\nl")
    assert "\n" not in text and "\r" not in text
    assert not live_markup(text)
    shown = re.sub(r"\\(.)", r"\1", text).replace(WORD_JOINER, "")
    assert shown == "[a](http://x.y) ![i](u) *b* _c_ `d` # e <f> |g| ~h~ $i$ :red[j] # k l"
    assert plain("digits 8×8") == "digits 8×8"  # letters, digits and non-ASCII stay as they are


@pytest.mark.parametrize("model", ["crafted-classes", "crafted-prior"])
@pytest.mark.parametrize("page", PAGES[:5])
def test_checkpoint_text_is_shown_as_plain_text_on_every_page(serve, crafted_dir, page, model):
    serve(crafted_dir)
    at = open_app(page, model=model)  # the crafted prior cannot be rebuilt: pages say so, and go on without it
    quoting = assert_no_live_markup(at)
    assert quoting  # the crafted names are on the page: as text


def test_the_sidebar_describes_a_crafted_checkpoint_in_plain_text(serve, crafted_dir):
    serve(crafted_dir)
    at = open_app(model="crafted-classes")
    description = at.sidebar.markdown[0].value
    assert description.startswith("**SUPERVISED**")
    assert plain(f"{LINK} {IMAGE} # heading") in description
    at = open_app(model="crafted-prior")
    assert plain(f"{LINK}{HTML}") in at.sidebar.markdown[0].value


def test_the_class_picker_and_your_digit_show_crafted_class_names_as_text(serve, crafted_dir, tmp_path):
    serve(crafted_dir)
    at = open_app(PAGES[2], model="crafted-classes")
    picker = next(w for w in at.get("button_group") if w.key and w.key.startswith("slider_class"))
    assert plain(LINK) in picker.proto.options[0].content
    at = open_app(PAGES[6], model="crafted-prior")
    page = Image.new("L", (80, 80), 255)
    page.paste(0, (35, 10, 45, 70))
    photo = tmp_path / "digit.png"
    page.save(photo)
    at.file_uploader(key="digit_upload").set_value(("digit.png", photo.read_bytes(), "image/png")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("predicted class" in c.value for c in at.main.caption)
    assert assert_no_live_markup(at)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt install chromium)")
def test_in_the_browser_crafted_names_are_text_with_no_links_or_images(crafted_dir, tmp_path):
    """What the frontend makes of the Markdown and Plotly text: GFM links bare URLs even when escaped, and Plotly
    reads HTML, neither of which the element tree shows."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from tests.test_browser import CHROMIUM_ARGS, start_app

    server, url = start_app(crafted_dir, tmp_path / "runs")
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for path, model, drawn in [
                ("", "crafted-classes", ".js-plotly-plot .legendtext"),  # sidebar, legend
                ("style-class", "crafted-classes", "[data-testid=stImage]"),  # captions, class picker
                ("aae-vs-vae", "crafted-prior", ".js-plotly-plot .gtitle"),  # map titles with the prior's name
            ]:
                page.goto(f"{url}/{path}?model={model}")
                page.locator(drawn).first.wait_for(state="attached", timeout=60_000)
                page.wait_for_load_state("networkidle")
                assert not page.locator("a[href*=evil], img[src*=evil], svg a, .js-plotly-plot img").count(), path
                shown = page.locator("body").inner_text().replace(WORD_JOINER, "")
                assert LINK in shown, path  # the names themselves, as written
                if path == "":
                    legend = page.locator(".legendtext").all_text_contents()
                    assert LINK in legend and HTML in legend and IMAGE in shown
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_crafted_device_in_the_link_is_shown_as_text(serve, crafted_dir):
    serve(crafted_dir)
    at = open_app(model="crafted-classes", device=LINK)
    warning = at.sidebar.warning[0].value
    assert "was asked for" in warning and not live_markup(warning)


# ---------------------------------------------------------------------------------------------------- server paths


def test_messages_name_files_not_the_folders_they_lie_in(serve, tmp_path):
    folder = tmp_path / "private" / "class-a"
    folder.mkdir(parents=True)
    (folder / "pickled.safetensors").write_bytes(b"\x80\x04this is a pickle, not a checkpoint")
    (folder / "truncated.safetensors").write_bytes((SHIPPED / "ae-2d-mixture.safetensors").read_bytes()[:500])
    (folder / f"{FILE_LINK}.safetensors").write_bytes(b"")

    def no_atlas(checkpoint) -> None:
        for key in [k for k in checkpoint.tensors if k.startswith("atlas.")]:
            del checkpoint.tensors[key]

    rewrite(SHIPPED / "ae-2d-mixture.safetensors", folder / "no-atlas.safetensors", no_atlas)
    serve(folder)
    for model, says in [
        ("no-atlas", "carries no atlas"),
        ("pickled", "pickle"),
        ("truncated", "truncated or corrupt"),
        (FILE_LINK, "empty"),
    ]:
        at = open_app(model=model)
        texts = [text for _, text in rendered_texts(at)]
        assert any(says in text for text in texts), model
        assert not [t for t in texts if str(tmp_path) in t or "private" in t], model
        if model == FILE_LINK:
            error = at.main.error[0].value
            assert plain(f"{FILE_LINK}.safetensors") in error and not live_markup(error)


def test_no_checkpoints_names_the_folders_looked_in_without_their_paths(serve, tmp_path):
    empty = tmp_path / "server" / "empty-folder"
    empty.mkdir(parents=True)
    serve(empty)
    at = open_app()
    looked = at.warning[0].value
    assert "empty-folder/" in looked and str(tmp_path) not in looked


def test_a_reason_loses_every_absolute_path_but_keeps_the_file_name(tmp_path):
    path = tmp_path / "runs" / "model.safetensors"
    message = f"{path}: [Errno 13] Permission denied: '/srv/other/file.bin' (see {path.parent}/log.txt)"
    assert without_server_paths(message, path) == (
        "model.safetensors: [Errno 13] Permission denied: 'file.bin' (see log.txt)"
    )


# ---------------------------------------------------------------------------------------------------- user folders


@pytest.fixture
def roots(tmp_path) -> dict[str, Path]:
    """An allowed root with a student's folder (a checkpoint, a symlink to one outside), and a folder outside."""
    root = tmp_path / "shared"
    student = root / "ana"
    outside = tmp_path / "someone-else"
    student.mkdir(parents=True)
    outside.mkdir()
    shutil.copy(SHIPPED / "ae-2d-mixture.safetensors", student / "mine.safetensors")
    shutil.copy(SHIPPED / "ae-2d-mixture.safetensors", outside / "secret.safetensors")
    (student / "leak.safetensors").symlink_to(outside / "secret.safetensors")
    (root / "door").symlink_to(outside, target_is_directory=True)
    return {"root": root, "student": student, "outside": outside}


def test_no_user_folders_unless_the_operator_names_roots(monkeypatch, tmp_path):
    monkeypatch.delenv(USER_FOLDER_ROOTS_VARIABLE, raising=False)
    assert user_folder_roots() == []
    monkeypatch.setenv(USER_FOLDER_ROOTS_VARIABLE, os.pathsep.join([str(tmp_path / "a"), "", str(tmp_path / "b")]))
    assert user_folder_roots() == [(tmp_path / "a").resolve(), (tmp_path / "b").resolve()]


def test_a_user_folder_must_really_lie_inside_a_root(roots, tmp_path):
    allowed = [roots["root"].resolve()]
    assert user_folder(str(roots["student"]), allowed) == roots["student"].resolve()
    assert user_folder("ana", allowed) == roots["student"].resolve()  # relative to a root
    refused = {}
    for text in [
        str(roots["outside"]),  # exists, outside
        str(tmp_path / "nonexistent"),  # does not exist, outside
        "/root/.ssh",
        "/nonexistent",
        str(roots["root"] / "door"),  # a symlink in the root to a folder outside
        str(roots["student"] / ".." / ".." / "someone-else"),
        "../someone-else",
    ]:
        with pytest.raises(FolderRefused) as err:
            user_folder(text, allowed)
        refused[text] = str(err.value)
    assert set(refused.values()) == {FOLDER_REFUSED}  # the same words whether the folder exists or not
    with pytest.raises(FolderRefused, match="no such folder"):  # inside the roots, nothing is hidden
        user_folder("ana/missing", allowed)


def test_listed_files_that_link_out_of_the_roots_are_skipped(roots):
    allowed = [roots["root"].resolve()]
    names = [f.path.name for f in find_checkpoints([roots["student"]], within=allowed)]
    assert names == ["mine.safetensors"]
    assert len(find_checkpoints([roots["student"]])) == 2  # the operator's own folders may hold symlinks


def test_the_folder_input_is_absent_unless_allowed(serve, roots):
    serve(roots["student"])
    at = open_app()
    assert not [t for t in at.sidebar.text_input if t.key == "extra_folder"]


def test_the_folder_input_opens_allowed_folders_and_refuses_others_alike(serve, roots, tmp_path):
    listed = tmp_path / "listed"
    listed.mkdir()
    shutil.copy(SHIPPED / "ae-2d-mixture.safetensors", listed / "shipped.safetensors")
    serve(listed, roots=(roots["root"],))
    at = open_app()
    folder = at.sidebar.text_input(key="extra_folder")
    assert plain("shared/") in folder.help and str(tmp_path) not in folder.help
    folder.set_value("ana").run()
    options = at.sidebar.selectbox(key="model_label").options
    assert any(o.startswith("mine") for o in options) and not any(o.startswith("leak") for o in options)
    assert not at.sidebar.error
    messages = []
    for text in ["/root/.ssh", "/nonexistent", str(roots["outside"]), str(roots["root"] / "door")]:
        at.sidebar.text_input(key="extra_folder").set_value(text).run()
        assert not at.exception
        assert not any(o.startswith(("mine", "secret")) for o in at.sidebar.selectbox(key="model_label").options)
        messages.append(at.sidebar.error[0].value)
    assert len(set(messages)) == 1 and "not inside the folders this server allows" in messages[0]
