"""Reading the inputs of ``auflow predict``: image folders, single images, videos, refusals."""

from __future__ import annotations

import math
import re

import cv2
import numpy as np
import pytest

from auflow.demo import generate_demo_dataset
from auflow.io.images import list_frames, load_face
from auflow.io.media import iter_frames, open_inputs


@pytest.fixture(scope="module")
def demo_subject(tmp_path_factory):
    """The image folder of one subject of a generated demo dataset (12 frames of 48 px)."""
    root = tmp_path_factory.mktemp("demo")
    (subject,) = generate_demo_dataset(root, n_subjects=1, n_frames=12, size=48, seed=0)
    return root / "croppedImg" / subject


def write_video(path, levels, fps=25.0, size=(80, 60)):
    """An MJPG video whose frame i is uniformly grey at ``levels[i]`` (8-bit), over a little
    texture so that the codec has something to encode."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for level in levels:
        writer.write(np.full((size[1], size[0], 3), level, np.uint8))
    writer.release()
    return path


def test_folder_frames_are_numbered_and_read_as_the_pipeline_does(demo_subject):
    frames = list(iter_frames([demo_subject]))
    pipeline = list_frames(demo_subject)
    assert [f.frame for f in frames] == [frame for frame, _ in pipeline] == list(range(1, 13))
    for item, (_, path) in zip(frames, pipeline, strict=True):
        assert item.input == str(demo_subject)
        assert math.isnan(item.timestamp)
        assert item.image.dtype == np.float32
        assert np.array_equal(item.image, load_face(path))


def test_folder_frames_follow_the_number_in_the_name_not_the_listing(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for number in (10, 2, 1):  # created out of order; "10" sorts before "2" as text
        cv2.imwrite(str(folder / f"frame_{number:02d}.png"), np.full((8, 8), number, np.uint8))
    (folder / "notes.txt").write_text("not an image: ignored, as the pipeline ignores it")
    frames = list(iter_frames([folder]))
    assert [f.frame for f in frames] == [1, 2, 10]
    assert [float(f.image[0, 0]) * 255 for f in frames] == pytest.approx([1, 2, 10], abs=1e-4)


def test_single_images_take_the_number_in_their_name_or_1(tmp_path, demo_subject):
    numbered = demo_subject / "7.png"
    unnumbered = tmp_path / "me.jpg"
    colour = np.zeros((30, 40, 3), np.uint8)
    colour[..., 2] = 200  # red in BGR
    cv2.imwrite(str(unnumbered), colour)
    first, second = iter_frames([numbered, str(unnumbered)])
    assert (first.input, first.frame) == (str(numbered), 7)
    assert (second.input, second.frame) == (str(unnumbered), 1)
    assert np.array_equal(first.image, load_face(numbered))
    assert np.array_equal(second.image, load_face(unnumbered))
    assert second.image.shape == (30, 40)
    assert math.isnan(first.timestamp) and math.isnan(second.timestamp)


def test_video_gives_one_frame_per_decoded_frame_with_increasing_timestamps(tmp_path):
    levels = [20, 50, 80, 110, 140, 170, 200, 230, 250]
    video = write_video(tmp_path / "clip.avi", levels, fps=25.0)
    (media,) = open_inputs([video])
    assert (media.kind, media.expected_frames) == ("video", len(levels))
    frames = list(iter_frames([video]))
    assert [f.frame for f in frames] == list(range(1, len(levels) + 1))
    assert all(f.input == str(video) for f in frames)
    timestamps = np.array([f.timestamp for f in frames])
    assert np.all(np.diff(timestamps) > 0)
    assert timestamps == pytest.approx(np.arange(len(levels)) / 25.0, abs=1e-6)
    for item, level in zip(frames, levels, strict=True):
        assert item.image.shape == (60, 80) and item.image.dtype == np.float32
        # MJPG is lossy: the mean grey level within 2 of the 255 levels written
        assert float(item.image.mean()) == pytest.approx(level / 255, abs=2 / 255)


def test_a_truncated_video_gives_the_frames_that_decode_not_its_frame_count(tmp_path):
    rng = np.random.default_rng(0)
    video = tmp_path / "whole.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (80, 60))
    for _ in range(10):
        writer.write(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8))
    writer.release()
    truncated = tmp_path / "cut.avi"
    data = video.read_bytes()
    truncated.write_bytes(data[: len(data) * 6 // 10])  # the header still says 10 frames
    (media,) = open_inputs([truncated])
    frames = list(iter_frames([media]))
    assert media.expected_frames == 10
    assert 0 < len(frames) < 10
    assert [f.frame for f in frames] == list(range(1, len(frames) + 1))


def test_inputs_come_in_the_order_given(tmp_path, demo_subject):
    video = write_video(tmp_path / "clip.avi", [100, 150])
    items = [(f.input, f.frame) for f in iter_frames([video, demo_subject / "3.png", video])]
    assert items == [(str(video), 1), (str(video), 2), (str(demo_subject / "3.png"), 3)] + [
        (str(video), 1),
        (str(video), 2),
    ]


def test_a_missing_path_is_refused_before_any_frame_is_read(demo_subject, tmp_path):
    missing = tmp_path / "nowhere" / "clip.mp4"
    frames = iter_frames([demo_subject, missing])
    with pytest.raises(ValueError, match=re.escape(f"{missing}: no such file or folder")):
        next(frames)


def test_an_unknown_file_type_is_refused(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(ValueError, match=re.escape(f"{notes}: unknown file type '.txt'")):
        open_inputs([notes])


def test_an_unreadable_image_is_refused(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"these bytes are not a PNG")
    with pytest.raises(ValueError, match=re.escape(f"{broken}: cannot be read as an image")):
        open_inputs([broken])


def test_an_unreadable_image_inside_a_folder_is_named_when_reached(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.png"), np.zeros((8, 8), np.uint8))
    (folder / "2.png").write_bytes(b"truncated")
    frames = iter_frames([folder])
    assert next(frames).frame == 1
    with pytest.raises(ValueError, match=re.escape(f"{folder / '2.png'}: not an image")):
        next(frames)


def test_an_empty_folder_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=re.escape(f"{empty}: empty folder, no images")):
        open_inputs([empty])


def test_a_folder_of_subject_folders_is_refused_with_a_hint(demo_subject):
    images_root = demo_subject.parent
    with pytest.raises(ValueError, match="give each image folder as its own input"):
        open_inputs([images_root])


@pytest.mark.parametrize("content", [b"", b"RIFF but not really an AVI" * 20])
def test_a_video_that_decodes_no_frame_is_refused(tmp_path, content):
    video = tmp_path / "clip.avi"
    video.write_bytes(content)
    message = re.escape(f"{video}: no frame of this video could be decoded")
    with pytest.raises(ValueError, match=message):
        open_inputs([video])


def test_no_input_at_all_is_refused():
    with pytest.raises(ValueError, match="no input given"):
        list(iter_frames([]))


def test_an_image_too_small_to_be_a_face_is_refused_naming_it(tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.png"), np.full((48, 48), 128, np.uint8))
    cv2.imwrite(str(folder / "2.png"), np.full((1, 1), 128, np.uint8))
    frames = iter_frames([folder])
    assert next(frames).frame == 1
    with pytest.raises(ValueError, match=re.escape(f"{folder / '2.png'}: 1x1 pixels")) as error:
        next(frames)
    assert "too small to be a face" in str(error.value)
