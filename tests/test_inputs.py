"""The bad-input matrix, read by the package's own functions: each bad image, folder, label file
or write failure gets an error naming the file and the fault, or a documented repair."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import resource
import signal
import subprocess

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from auflow.io.discovery import discover_dataset, read_manifest, write_manifest
from auflow.io.images import frame_number, list_frames, load_face, load_faces, read_image
from auflow.io.labels import align_labels, read_json_labels, read_subject_labels
from auflow.io.parquet import read_metadata, read_table, write_table

from conftest import face_like

AUS = [1, 2, 12]
LUMA = np.array([0.2125, 0.7154, 0.0721])  # R, G, B


def grey_png(path, h=24, w=20, seed=0):
    cv2.imwrite(str(path), (face_like(h, w, seed) * 255).round().astype(np.uint8))
    return path


def frames_folder(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        grey_png(folder / name, seed=seed)
    return folder


def labels_json(path, n, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"au1": 1, "au2": 0, "au12": 3, **extra} for _ in range(n)]))
    return path


# --- image files ---------------------------------------------------------------------------


def test_corrupt_png_is_named_as_corrupt(tmp_path):
    data = bytearray(grey_png(tmp_path / "3.png").read_bytes())
    data[60] ^= 0xFF  # inside the IDAT chunk: its checksum no longer matches
    (tmp_path / "3.png").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"3\.png: corrupt image: its data cannot be decoded"):
        read_image(tmp_path / "3.png")


def test_zero_byte_file_is_named_as_empty(tmp_path):
    (tmp_path / "3.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"3\.png: empty file \(0 bytes\)"):
        read_image(tmp_path / "3.png")


@pytest.mark.parametrize(
    ("suffix", "kind", "cut"), [(".png", "PNG", 30), (".jpg", "JPEG", 30), (".bmp", "BMP", 100)]
)
def test_truncated_file_is_refused_not_decoded_in_part(tmp_path, suffix, kind, cut):
    path = tmp_path / f"3{suffix}"
    cv2.imwrite(str(path), (face_like(24, 20) * 255).astype(np.uint8))
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(ValueError, match=rf"3\{suffix}: truncated {kind} \("):
        read_image(path)


def test_a_file_that_is_not_an_image_is_named(tmp_path):
    (tmp_path / "3.png").write_text("frame 3 was not exported\n")
    with pytest.raises(ValueError, match=r"3\.png: not an image: its content is not PNG, JPEG"):
        read_image(tmp_path / "3.png")


def test_a_missing_image_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"3\.png: image not found"):
        read_image(tmp_path / "3.png")


def test_content_decides_the_format_not_the_suffix(tmp_path):
    face = (face_like(24, 20) * 255).round().astype(np.uint8)
    cv2.imwrite(str(tmp_path / "a.bmp"), face)
    (tmp_path / "1.png").write_bytes((tmp_path / "a.bmp").read_bytes())
    np.testing.assert_array_equal(read_image(tmp_path / "1.png"), face / np.float32(255))


def test_rgb_and_rgba_become_grey_with_the_luma_weights(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    expected = (rgb.astype(np.float64) / 255) @ LUMA
    alpha = np.full((12, 10, 1), 7, np.uint8)  # nearly transparent: alpha is ignored
    cv2.imwrite(str(tmp_path / "1.png"), rgb[..., ::-1])  # OpenCV writes BGR
    cv2.imwrite(str(tmp_path / "2.png"), np.concatenate([rgb[..., ::-1], alpha], axis=2))
    for name in ("1.png", "2.png"):
        face = read_image(tmp_path / name)
        assert face.dtype == np.float32 and face.shape == (12, 10)
        np.testing.assert_allclose(face, expected, atol=1e-6)


def test_sixteen_bit_images_are_scaled_by_65535(tmp_path):
    grey = np.array([[0, 1, 257], [32768, 65534, 65535]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "1.png"), grey)
    np.testing.assert_allclose(read_image(tmp_path / "1.png"), grey / 65535, atol=1e-7)
    colour = np.stack([grey, grey // 2, grey // 3], axis=2)  # B, G, R
    cv2.imwrite(str(tmp_path / "2.png"), colour)
    expected = (colour[..., ::-1] / 65535) @ LUMA
    np.testing.assert_allclose(read_image(tmp_path / "2.png"), expected, atol=1e-6)


def test_palette_and_grey_alpha_images_are_expanded_then_made_grey(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    palette = Image.fromarray(rgb).quantize(colors=16)
    palette.save(tmp_path / "1.png")
    colours = np.asarray(palette.convert("RGB"), dtype=np.float64) / 255
    np.testing.assert_allclose(read_image(tmp_path / "1.png"), colours @ LUMA, atol=1e-6)
    grey = rgb[..., 0]
    Image.fromarray(np.stack([grey, grey // 3], axis=2), mode="LA").save(tmp_path / "2.png")
    np.testing.assert_allclose(read_image(tmp_path / "2.png"), grey / 255, atol=1e-6)


def test_faces_of_different_sizes_are_each_resized_to_face_size(tmp_path):
    cv2.imwrite(str(tmp_path / "1.png"), (face_like(30, 30) * 255).astype(np.uint8))
    cv2.imwrite(str(tmp_path / "2.png"), (face_like(40, 24) * 255).astype(np.uint8))
    faces = load_faces([tmp_path / "1.png", tmp_path / "2.png"], face_size=16)
    assert faces.shape == (2, 16, 16)
    for face, name in zip(faces, ("1.png", "2.png"), strict=True):
        own = read_image(tmp_path / name)
        np.testing.assert_array_equal(face, cv2.resize(own, (16, 16), interpolation=cv2.INTER_AREA))
    with pytest.raises(ValueError, match=r"1\.png is 30x30 but .*2\.png is 24x40 .*face_size"):
        load_faces([tmp_path / "1.png", tmp_path / "2.png"], face_size=None)


def test_a_batch_holds_exactly_the_levels_of_each_image_read_alone(tmp_path):
    # load_faces converts each image straight into the batch (and into a reused buffer): the
    # float32 levels must be those of level / maximum computed after a float32 conversion,
    # bit for bit, for every kind of image and for resized ones
    rng = np.random.default_rng(3)
    grey8 = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    grey16 = rng.integers(0, 65536, (16, 16), dtype=np.uint16)
    bgr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    larger = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    for name, pixels in (("1.png", grey8), ("2.png", grey16), ("3.png", bgr), ("4.png", larger)):
        cv2.imwrite(str(tmp_path / name), pixels)
    cv2.imwrite(str(tmp_path / "5.jpg"), grey8)
    jpeg = cv2.imread(str(tmp_path / "5.jpg"), cv2.IMREAD_UNCHANGED)
    expected = [
        grey8.astype(np.float32) / np.float32(255),
        grey16.astype(np.float32) / np.float32(65535),
        (bgr.astype(np.float32) / np.float32(255)) @ np.float32(LUMA[::-1]),
        cv2.resize(
            larger.astype(np.float32) / np.float32(255), (16, 16), interpolation=cv2.INTER_AREA
        ),
        jpeg.astype(np.float32) / np.float32(255),
    ]
    paths = [tmp_path / name for name in ("1.png", "2.png", "3.png", "4.png", "5.jpg")]
    faces = load_faces(paths, 16)
    assert faces.dtype == np.float32 and faces.shape == (5, 16, 16)
    for face, path, levels in zip(faces, paths, expected, strict=True):
        np.testing.assert_array_equal(face, levels)
        np.testing.assert_array_equal(face, load_face(path, 16))
    buffer = np.full((8, 16, 16), np.nan, np.float32)
    for batch in (paths[:3], paths[2:]):  # the second batch overwrites the first
        filled = load_faces(batch, 16, out=buffer)
        assert filled.shape == (len(batch), 16, 16) and np.shares_memory(filled, buffer)
        np.testing.assert_array_equal(filled, load_faces(batch, 16))
    native = load_faces(paths[:3], None)
    np.testing.assert_array_equal(native, faces[:3])


def test_load_face_keeps_the_native_size_without_face_size(tmp_path):
    grey_png(tmp_path / "1.png", 24, 20)
    assert load_face(tmp_path / "1.png").shape == (24, 20)


# --- frame names and subject folders --------------------------------------------------------


def test_frames_are_ordered_by_number_and_hidden_files_ignored(tmp_path):
    folder = frames_folder(tmp_path / "SN001", ["10.png", "2.png", "1.PNG"])
    (folder / "._2.png").write_bytes(b"\x00\x05\x16\x07")  # a macOS resource fork
    (folder / "notes.txt").write_text("not a frame")
    assert [(f, p.name) for f, p in list_frames(folder)] == [
        (1, "1.PNG"),
        (2, "2.png"),
        (10, "10.png"),
    ]


def test_a_folder_named_like_an_image_is_not_a_frame(tmp_path, caplog):
    folder = frames_folder(tmp_path / "SN001", ["1.png", "2.png"])
    (folder / "3.png").mkdir()
    with caplog.at_level(logging.WARNING):
        assert [f for f, _ in list_frames(folder)] == [1, 2]
    assert "3.png is a folder, not an image" in caplog.text


def test_a_name_without_a_frame_number_is_named(tmp_path):
    folder = frames_folder(tmp_path / "SN001", ["1.png", "cover.png"])
    with pytest.raises(ValueError, match=r"cover\.png: no frame number in the file name"):
        list_frames(folder)


def test_the_frame_number_is_the_last_run_of_digits():
    assert frame_number("frame_0012.png") == 12
    assert frame_number("S005_001_00000007.png") == 7
    assert frame_number("7_crop.jpg") == 7


def test_names_that_differ_outside_their_last_number_are_ambiguous(tmp_path):
    folder = frames_folder(tmp_path / "SN001", ["img12_v2.png", "img13_v2.png"])
    with pytest.raises(ValueError, match=r"cannot tell which number is the frame in img12_v2\.png"):
        list_frames(folder)


def test_names_that_differ_only_in_their_last_number_are_accepted(tmp_path):
    folder = frames_folder(tmp_path / "S005", ["S005_001_00000002.png", "S005_001_00000010.png"])
    assert [f for f, _ in list_frames(folder)] == [2, 10]


def test_duplicate_frame_numbers_name_both_files(tmp_path):
    folder = frames_folder(tmp_path / "SN001", ["1.png", "2.png", "02.png"])
    with pytest.raises(
        ValueError, match=r"02\.png and .*2\.png: both are frame 2 of subject SN001"
    ):
        list_frames(folder)


def make_dataset(root, subjects, frames=3):
    for subject in subjects:
        frames_folder(root / "croppedImg" / subject, [f"{i}.png" for i in range(1, frames + 1)])
        labels_json(root / "json" / f"{subject}.json", frames)
    return root


def test_subjects_and_label_files_that_do_not_pair_are_all_named(tmp_path):
    root = make_dataset(tmp_path, ["SN001", "SN002"])
    (root / "json/SN002.json").rename(root / "json/SN02.json")
    with pytest.raises(ValueError) as error:
        discover_dataset(root / "croppedImg", root / "json", "json", AUS)
    message = str(error.value)
    assert "2 problem(s), found before any job ran" in message
    assert f"subject SN002 ({root}/croppedImg/SN002) has no label file {root}/json/SN002.json" in (
        message
    )
    assert f"label file {root}/json/SN02.json has no subject folder {root}/croppedImg/SN02" in (
        message
    )


def test_listed_subjects_ignore_other_label_files(tmp_path):
    root = make_dataset(tmp_path, ["SN001", "SN002"])
    labels_json(root / "json/SN009.json", 3)
    frames = discover_dataset(root / "croppedImg", root / "json", "json", AUS, ["SN002"])
    assert list(frames) == ["SN002"]


def test_disfa_txt_subject_without_label_files_is_named(tmp_path):
    root = make_dataset(tmp_path, ["SN001"])
    (root / "txt/SN001").mkdir(parents=True)
    (root / "txt/SN001/SN001_au1.txt").write_text("1,0\n2,0\n3,0\n")
    (root / "txt/SN007_au1.txt").write_text("1,0\n")
    with pytest.raises(ValueError) as error:
        discover_dataset(root / "croppedImg", root / "txt", "disfa_txt", [1, 2])
    assert "subject SN001" in str(error.value) and "no label file for AU 2" in str(error.value)
    assert f"label file {root}/txt/SN007_au1.txt has no subject folder" in str(error.value)


def test_a_subject_folder_without_images_is_named(tmp_path):
    root = make_dataset(tmp_path, ["SN001", "SN002"])
    for image in (root / "croppedImg/SN002").iterdir():
        image.unlink()
    (root / "croppedImg/SN002/1.png").mkdir()  # a folder named like an image is no image
    with pytest.raises(ValueError, match=r"croppedImg/SN002: subject folder without images"):
        discover_dataset(root / "croppedImg", root / "json", "json", AUS)


@pytest.mark.parametrize("subject", ["SN 001", "Zoë"])
def test_subject_folders_with_spaces_or_accents_are_refused_with_the_reason(tmp_path, subject):
    root = make_dataset(tmp_path, ["SN002", subject])
    with pytest.raises(ValueError) as error:
        discover_dataset(root / "croppedImg", root / "json", "json", AUS)
    message = str(error.value)
    assert f"croppedImg/{subject}: {subject!r} cannot be a subject name" in message
    assert "Snakemake wildcards" in message and "no spaces or accents" in message


# --- label files ----------------------------------------------------------------------------


def test_a_missing_au_key_is_intensity_zero_and_counted(tmp_path):
    path = labels_json(tmp_path / "SN001.json", 4)
    records = json.loads(path.read_text())
    del records[1]["au12"], records[3]["au12"], records[3]["au2"]
    path.write_text(json.dumps(records))
    table = read_json_labels(path, AUS)
    assert table["AU12"].tolist() == [3, 0, 3, 0]
    assert table["AU02"].tolist() == [0, 0, 0, 0]
    assert table.attrs["filled_in"] == {"AU01": 0, "AU02": 1, "AU12": 2}
    with pytest.raises(ValueError, match=r"SN001\.json: element 3 has no 'au2' \(1 of 4 elements"):
        read_json_labels(path, AUS, missing_au="error")


def test_filled_in_counts_reach_the_subject_table(tmp_path):
    frames_folder(tmp_path / "SN001", ["1.png", "2.png"])
    path = tmp_path / "SN001.json"
    path.write_text(json.dumps([{"au1": 2}, {"au1": 0, "au12": 1}]))
    images = [p for _, p in list_frames(tmp_path / "SN001")]
    table = read_subject_labels("SN001", "json", path, images, AUS)
    assert table.attrs["auflow"]["filled_in"] == {"AU01": 0, "AU02": 2, "AU12": 1}
    assert table.attrs["auflow"]["filled_in_total"] == 3


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ('{"au1": 0}', "expected a JSON list with one object per frame, got a JSON object"),
        ("[1, 2]", "element 0 is a JSON number, not an object"),
        ('[{"au1": 0}, {"au1": 1', "JSON ends early at line 1 column 23"),
        ("", "empty file"),
        ("[{au1: 0}]", "not valid JSON at line 1 column 3"),
    ],
)
def test_json_that_is_not_a_list_of_objects_is_named(tmp_path, content, fault):
    (tmp_path / "SN001.json").write_text(content)
    with pytest.raises(ValueError, match=r"SN001\.json: ") as error:
        read_json_labels(tmp_path / "SN001.json", AUS)
    assert fault in str(error.value)


def test_json_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "SN001.json").write_bytes('[{"au1": 0, "note": "caf\u00e9"}]'.encode("latin-1"))
    with pytest.raises(ValueError, match=r"SN001\.json: not UTF-8 text \(byte 0xe9 at offset 24\)"):
        read_json_labels(tmp_path / "SN001.json", AUS)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "SN001.json").write_bytes(b"\xef\xbb\xbf" + b'[{"au1": 4}]')
    assert read_json_labels(tmp_path / "SN001.json", [1])["AU01"].tolist() == [4]


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("2.5", "au12=2.5 is not an integer"),
        ("NaN", "au12=NaN is not a number"),
        ("-1", "au12=-1 is outside 0-5"),
        ("6", "au12=6 is outside 0-5"),
        ('"3"', 'au12="3" is not a number'),
        ("null", "au12=null is not a number"),
        ("true", "au12=true is not a number"),
    ],
)
def test_intensities_that_are_not_whole_numbers_0_to_5_are_named(tmp_path, value, fault):
    path = tmp_path / "SN001.json"
    path.write_text(f'[{{"au12": 0}}, {{"au12": {value}}}]')
    with pytest.raises(ValueError, match=r"SN001\.json: element 1 ") as error:
        read_json_labels(path, [12])
    assert fault in str(error.value)


def test_whole_floats_are_intensities(tmp_path):
    (tmp_path / "SN001.json").write_text('[{"au12": 3.0}]')
    assert read_json_labels(tmp_path / "SN001.json", [12])["AU12"].tolist() == [3]


def test_unknown_keys_are_a_warning(tmp_path, caplog):
    path = labels_json(tmp_path / "SN001.json", 2, smile=1, au45=2)
    with caplog.at_level(logging.INFO):
        table = read_json_labels(path, AUS)
    assert list(table.columns) == ["AU01", "AU02", "AU12"]
    assert "keys that are not AU intensities (au<N>) are ignored: 'smile' (2 elements)" in (
        caplog.text
    )
    assert "AUs not in the config's aus are not read: [45]" in caplog.text


def test_a_differently_spelled_au_key_is_refused(tmp_path):
    path = tmp_path / "SN001.json"
    path.write_text(json.dumps([{"AU01": 2, "au2": 0, "au12": 0}]))
    with pytest.raises(ValueError, match=r"key 'AU01' looks like AU1, but auflow reads .*'au1'"):
        read_json_labels(path, AUS)


def test_more_label_rows_than_frames_names_both_counts(tmp_path):
    images = [grey_png(tmp_path / f"{i}.png") for i in (1, 2)]
    labels = read_json_labels(labels_json(tmp_path / "SN001.json", 3), AUS)
    with pytest.raises(ValueError, match=r"SN001\.json has 3 frames but .* has 2 images"):
        align_labels("SN001", labels, images, tmp_path / "SN001.json")


def test_gaps_in_frame_numbers_are_a_warning_or_with_strict_frames_an_error(tmp_path, caplog):
    images = [grey_png(tmp_path / f"{i}.png") for i in (1, 2, 5, 6, 9)]
    labels = read_json_labels(labels_json(tmp_path / "SN001.json", 5), AUS)
    with caplog.at_level(logging.WARNING):
        table = align_labels("SN001", labels, images, tmp_path / "SN001.json")
    assert table["frame"].tolist() == [1, 2, 5, 6, 9]
    assert "frame numbers have gaps (missing 3-4, 7-8)" in caplog.text
    with pytest.raises(ValueError, match=r"missing 3-4, 7-8.*dataset\.strict_frames is true"):
        align_labels("SN001", labels, images, tmp_path / "SN001.json", strict_frames=True)


# --- manifests ------------------------------------------------------------------------------


def test_a_manifest_is_rewritten_only_when_its_frames_change(tmp_path):
    folder = frames_folder(tmp_path / "SN001", ["1.png", "2.png"])
    manifest = tmp_path / "frames/SN001/000.json"
    assert write_manifest(manifest, "SN001", list_frames(folder), with_stat=True)
    assert read_manifest(manifest) == [(1, str(folder / "1.png")), (2, str(folder / "2.png"))]
    assert not write_manifest(manifest, "SN001", list_frames(folder), with_stat=True)
    os.utime(folder / "2.png", ns=(1, 10**18))  # the image replaced or touched
    assert write_manifest(manifest, "SN001", list_frames(folder), with_stat=True)
    assert not write_manifest(manifest, "SN001", list_frames(folder), with_stat=True)
    # frame numbers and paths only: pixels do not matter to the labels
    os.utime(folder / "2.png", ns=(1, 2 * 10**18))
    subject = tmp_path / "frames/SN001.json"
    assert write_manifest(subject, "SN001", list_frames(folder), with_stat=False)
    os.utime(folder / "2.png", ns=(1, 10**18))
    assert not write_manifest(subject, "SN001", list_frames(folder), with_stat=False)


def test_a_manifest_keeps_the_layout_of_json_indent_0_whatever_the_paths(tmp_path):
    # manifests written by earlier versions (json.dumps with indent=0) must read as unchanged,
    # or every extraction job would run again
    odd = 'a "b",[c]\\ zoë 😀_'  # quotes, a comma, brackets, a backslash, non-ASCII
    names = [f"{odd}{i}.png" for i in (1, 2, 10)]
    folder = frames_folder(tmp_path / f"{odd}\n" / "SN001", names)  # and a line break
    frames = list_frames(folder)
    for with_stat in (True, False):
        manifest = tmp_path / f"frames/{with_stat}.json"
        assert write_manifest(manifest, "SN001", frames, with_stat=with_stat)
        rows = [[f, str(p)] for f, p in frames]
        if with_stat:
            rows = [[f, p, os.stat(p).st_size, os.stat(p).st_mtime_ns] for f, p in rows]
        columns = ["frame", "path", "bytes", "mtime_ns"][: len(rows[0])]
        expected = {"subject": "SN001", "columns": columns, "frames": rows}
        assert manifest.read_text(encoding="utf-8") == json.dumps(expected, indent=0) + "\n"
        assert read_manifest(manifest) == [(f, str(p)) for f, p in frames]


def test_discovered_frames_are_the_listed_frames_as_strings(tmp_path):
    root = make_dataset(tmp_path, ["SN001", "SN002"], frames=12)
    discovered = discover_dataset(root / "croppedImg", root / "json", "json", AUS)
    for subject, frames in discovered.items():
        listed = list_frames(root / "croppedImg" / subject)
        assert frames == [(f, str(p)) for f, p in listed]
        assert [f for f, _ in frames] == list(range(1, 13))


# --- a full disk --------------------------------------------------------------------------


@contextlib.contextmanager
def small_filesystem(path, size_kb=64):
    """A folder on which writes fail part-way: a tiny tmpfs (ENOSPC) when mounting is allowed
    (root), else a file-size limit on this process (EFBIG), which fails the same write."""
    path.mkdir()
    try:
        mount = ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)]
        mounted = subprocess.run(mount, capture_output=True).returncode == 0
    except OSError:  # no mount command
        mounted = False
    if mounted:
        try:
            yield errno.ENOSPC
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size_kb * 1024, hard))
    try:
        yield errno.EFBIG
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def test_a_full_disk_during_a_write_leaves_no_partial_table(tmp_path):
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.random((2000, 40), dtype=np.float32)).add_prefix("feature_")
    small = tmp_path / "small"
    with small_filesystem(small) as code:
        target = small / "features/SN001/000.parquet"
        write_table(table.head(5), small / "first.parquet", {"n": 5})  # fits
        with pytest.raises(OSError) as error:
            write_table(table, target, {"n": len(table)})
        assert error.value.errno == code
        assert f"{target}: {os.strerror(code)} while writing the table" in str(error.value)
        assert sorted(p.name for p in (small / "features/SN001").iterdir()) == []
        assert sorted(p.name for p in small.iterdir()) == ["features", "first.parquet"]
        assert read_metadata(small / "first.parquet") == {"n": 5}
        assert len(read_table(small / "first.parquet")) == 5


def test_a_png_with_bytes_after_its_end_is_still_an_image(tmp_path):
    path = grey_png(tmp_path / "1.png")
    face = read_image(path)
    path.write_bytes(path.read_bytes() + b"\x00" * 16)  # some tools pad files
    np.testing.assert_array_equal(read_image(path), face)


@pytest.mark.parametrize("columns", [None, ["f2", "subject", "f0", "AU01"]])
def test_read_table_returns_what_arrow_converts_with_the_features_in_one_block(tmp_path, columns):
    import pyarrow.parquet as pq

    from auflow.io.parquet import COLUMNS_AT_ONCE, read_table, write_table

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"subject": np.repeat(["SN001", "SN002"], 50), "frame": np.arange(100)})
    table["AU01"] = rng.integers(0, 6, 100).astype(np.int8)
    # more float32 columns than are read at once, some missing values, and a float64 column
    for column in range(COLUMNS_AT_ONCE + 5):
        table[f"f{column}"] = rng.normal(size=100).astype(np.float32)
    table.loc[3, "f1"] = np.nan
    table["score"] = rng.normal(size=100)
    path = tmp_path / "t.parquet"
    write_table(table, path, {"note": "x"})
    read = read_table(path, columns)
    pd.testing.assert_frame_equal(read, pq.read_table(path, columns=columns).to_pandas())
    pd.testing.assert_frame_equal(read, table if columns is None else table[columns])
    floats = [c for c in read.columns if read[c].dtype == np.float32]
    # the features are one array, not a copy per column
    assert np.shares_memory(read[floats].to_numpy(), read[floats[-1]].to_numpy())
