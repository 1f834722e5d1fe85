"""Datasets: the IDX reader and its errors, digits, image folders."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from aae_core.data import IDX_SOURCES, DatasetError, labelled_subset, load_dataset, read_idx
from tests.conftest import make_idx_dir, write_idx


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_idx_round_trip(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "x-idx3-ubyte", array, compress)
    assert np.array_equal(read_idx(path), array)


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_load_mnist_format_directory(tmp_path, compress):
    make_idx_dir(tmp_path, n_train=30, n_eval=10, compress=compress)
    data = load_dataset("mnist", tmp_path)
    assert data.train.images.shape == (30, 784) and data.eval.images.shape == (10, 784)
    assert data.train.image_shape == (28, 28)
    assert data.train.images.dtype == torch.float32
    assert 0.0 <= data.train.images.min() and data.train.images.max() <= 1.0
    assert data.train.labels.dtype == torch.long and data.train.labels.max() <= 9


@pytest.mark.parametrize(
    "name,first,last",
    [("mnist", "0", "9"), ("fashion-mnist", "T-shirt/top", "Ankle boot"), ("kmnist", "お o", "を wo")],
)
def test_idx_datasets_name_their_classes(tmp_path, name, first, last):
    make_idx_dir(tmp_path, n_train=30, n_eval=10)
    data = load_dataset(name, tmp_path)
    assert len(data.train.classes) == 10 and data.eval.classes == data.train.classes
    assert (data.train.classes[0], data.train.classes[9]) == (first, last)


def test_missing_files_are_named(tmp_path):
    make_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte") as info:
        load_dataset("fashion-mnist", tmp_path)
    assert "--download" in str(info.value)
    assert "train-images" not in str(info.value)


def test_truncated_file(tmp_path):
    make_idx_dir(tmp_path, compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte is truncated"):
        load_dataset("mnist", tmp_path)


def test_bad_magic_and_damaged_gzip(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x12\x34\x08\x01" + b"\x00" * 8)
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(bad)
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(gzip.compress(b"\x00" * 100)[:15])
    with pytest.raises(DatasetError, match="damaged gzip"):
        read_idx(damaged)


def test_image_label_count_mismatch(tmp_path):
    make_idx_dir(tmp_path, n_train=30)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(29, dtype=np.uint8))
    with pytest.raises(DatasetError, match="do not match"):
        load_dataset("kmnist", tmp_path)


def test_idx_dataset_needs_a_directory():
    with pytest.raises(DatasetError, match="needs --data-dir"):
        load_dataset("mnist", None)
    with pytest.raises(DatasetError, match="choose one of: digits"):
        load_dataset("cifar", None)


def test_digits_split_is_fixed(digits):
    assert len(digits.train) + len(digits.eval) == 1797
    assert digits.train.image_shape == (8, 8)
    assert digits.train.images.max() == 1.0
    again = load_dataset("digits")
    assert torch.equal(again.eval.labels, digits.eval.labels)


def test_image_folder_with_classes(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("cats", "dogs"):
        (tmp_path / name).mkdir()
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "dogs" / "notes.txt").write_text("not an image, skipped by suffix")
    data = load_dataset("folder", tmp_path, image_size=16)
    assert len(data.train) + len(data.eval) == 12
    assert data.train.images.shape[1] == 256
    assert data.train.classes == ("cats", "dogs")
    assert set(torch.cat([data.train.labels, data.eval.labels]).tolist()) == {0, 1}


def test_image_folder_rejects_broken_images(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetError, match="broken.png is not a readable image"):
        load_dataset("folder", tmp_path)


def test_labelled_subset_is_balanced_and_seeded(digits):
    index = labelled_subset(digits.train.labels, 100, seed=0)
    assert len(index) == 100 and len(set(index.tolist())) == 100
    assert torch.bincount(digits.train.labels[index]).tolist() == [10] * 10
    assert torch.equal(index, labelled_subset(digits.train.labels, 100, seed=0))
    assert not torch.equal(index, labelled_subset(digits.train.labels, 100, seed=1))
    with pytest.raises(DatasetError, match="fewer than the 10 classes"):
        labelled_subset(digits.train.labels, 5)


@pytest.fixture
def local_server(tmp_path):
    """A real HTTP server on loopback serving tmp_path/served, standing in for a dataset mirror."""
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_fetches_only_missing_files(tmp_path, local_server, monkeypatch):
    served, url = local_server
    make_idx_dir(served, n_train=12, n_eval=4)
    target = tmp_path / "data"
    make_idx_dir(target, n_train=12, n_eval=4)
    (target / "t10k-images-idx3-ubyte.gz").unlink()
    monkeypatch.setitem(IDX_SOURCES, "mnist", url)
    data = load_dataset("mnist", target, download=True)
    assert len(data.eval) == 4
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in served.iterdir())


def test_download_failure_is_a_clear_message(tmp_path, local_server, monkeypatch):
    _, url = local_server  # serves nothing: every file is a 404
    monkeypatch.setitem(IDX_SOURCES, "kmnist", url)
    with pytest.raises(DatasetError, match="could not download .*train-images-idx3-ubyte.gz .*offline"):
        load_dataset("kmnist", tmp_path / "empty", download=True)
    assert not any((tmp_path / "empty").glob("*.part"))


# ---------------------------------------------------------------------------------------------------- crafted IDX


def crafted_idx(path, type_code: int, shape: tuple[int, ...], payload: bytes, compress: bool = False):
    """An IDX file with any header and payload, true or not."""
    raw = struct.pack(">BBBB", 0, 0, type_code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + payload
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_a_header_promising_more_than_the_file_holds_is_refused(tmp_path, compress):
    # 65536**4 bytes is 2**64: in 64-bit arithmetic that wraps to 0 and matches the empty payload.
    path = crafted_idx(tmp_path / "huge-idx3-ubyte", 0x08, (2**16,) * 4, b"", compress)
    with pytest.raises(DatasetError, match="huge-idx3-ubyte (is truncated|is not a real IDX file)") as info:
        read_idx(path)
    assert str(tmp_path) not in str(info.value)


def test_a_gzip_file_is_read_no_further_than_its_header_promises(tmp_path):
    import tracemalloc

    path = crafted_idx(tmp_path / "bomb.gz", 0x08, (2, 2), bytes(30_000_000), compress=True)  # 30 KB on disk
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="bomb.gz is truncated or padded.*it holds more"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000  # not the 30 MB the file inflates to


def test_gzip_padding_is_reported(tmp_path):
    path = crafted_idx(tmp_path / "padded", 0x08, (2, 2), b"\x01" * 5, compress=True)
    with pytest.raises(DatasetError, match="padded.*holds more"):
        read_idx(path)


@pytest.mark.parametrize(
    "type_code,values,message",
    [
        (0x0C, [2_000_000_000] + [1] * 29, "class labels from 1 to 2000000000; they must be from 0 to 255"),
        (0x09, [-1] + [1] * 29, "class labels from -1 to 1; they must be from 0 to 255"),
        (0x0D, [1.0] * 30, "holds >f4 numbers; its class labels must be whole numbers"),
    ],
    ids=["two-billion", "negative", "float"],
)
def test_labels_outside_a_byte_are_refused(tmp_path, type_code, values, message):
    dtype = {0x0C: ">i4", 0x09: "i1", 0x0D: ">f4"}[type_code]
    make_idx_dir(tmp_path, n_train=30, n_eval=10, compress=False)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    crafted_idx(tmp_path / "train-labels-idx1-ubyte", type_code, (30,), np.array(values, dtype=dtype).tobytes())
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset("mnist", tmp_path)
    assert str(info.value).startswith("train-labels-idx1-ubyte holds")
    assert str(tmp_path) not in str(info.value)


@pytest.mark.parametrize(
    "shape,type_code,payload,message",
    [
        ((0, 28, 28), 0x08, b"", "holds 0 images"),
        ((2, 1000, 1), 0x08, b"\x00" * 2000, "sides from 1 to 512"),
        ((30, 28, 28), 0x0B, np.full(30 * 28 * 28, 300, ">i2").tobytes(), "pixel values from 300 to 300"),
    ],
    ids=["empty", "huge-side", "beyond-a-byte"],
)
def test_images_must_be_bytes_of_a_sane_shape(tmp_path, shape, type_code, payload, message):
    make_idx_dir(tmp_path, n_train=shape[0], n_eval=10, compress=False)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    crafted_idx(tmp_path / "train-images-idx3-ubyte", type_code, shape, payload)
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset("mnist", tmp_path)
    assert str(info.value).startswith("train-images-idx3-ubyte holds")


def test_dataset_errors_name_files_not_server_paths(tmp_path):
    make_idx_dir(tmp_path / "data")
    (tmp_path / "data" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as missing:
        load_dataset("mnist", tmp_path / "data")
    (tmp_path / "pictures").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "pictures" / "ok.png")
    (tmp_path / "pictures" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError) as broken:
        load_dataset("folder", tmp_path / "pictures")
    for error in (missing, broken):
        assert str(tmp_path) not in str(error.value)
    with pytest.raises(DatasetError, match="--image-size must be from 2 to 512"):
        load_dataset("folder", tmp_path / "pictures", image_size=100_000)
