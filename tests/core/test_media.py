"""core.media on real files written by devtools.synth and decoded by real PIL."""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from mmexplorer.core import media
from mmexplorer.core.errors import DecodeError, UsageError
from mmexplorer.core.media import discover
from mmexplorer.core.types import Modality
from mmexplorer.devtools import synth

# ------------------------------------------------------------------------------------------ images

EXPECTED_SIZES = {
    "jpeg_exif_rotated": (80, 120),  # stored 120 x 80, EXIF orientation 6
    "png": (64, 48),
    "webp": (40, 30),
    "bmp": (33, 17),
    "tiff": (50, 20),
    "heic": (64, 40),
    "png_palette_transparent": (32, 32),
    "png_rgba": (32, 32),
    "png_16bit_gray": (256, 8),
    "jpeg_cmyk": (24, 16),
    "gif_animated": (32, 32),
    "unicode_name": (48, 48),
    "in_subfolder": (24, 24),
    "png_named_dat": (20, 10),
}


def _case(zoo: dict[str, Path], key: str) -> Path:
    if key not in zoo:
        pytest.skip(f"this machine cannot make the {key} case")
    return zoo[key]


@pytest.mark.parametrize("key", sorted(EXPECTED_SIZES))
def test_every_zoo_image_decodes_to_upright_rgb(format_zoo, key):
    path = _case(format_zoo, key)
    img = media.load_image(path)
    assert img.mode == "RGB"
    assert img.size == EXPECTED_SIZES[key]
    assert media.image_dimensions(path) == EXPECTED_SIZES[key]
    img.tobytes()  # usable after the file is closed


def test_exif_orientation_turns_the_pixels_not_just_the_size(format_zoo):
    img = media.load_image(format_zoo["jpeg_exif_rotated"])
    # Stored: red top half, blue bottom half. Orientation 6 shows the top on the right.
    right, left = img.getpixel((70, 60)), img.getpixel((10, 60))
    assert right[0] > 200 and right[2] < 60
    assert left[2] > 200 and left[0] < 60


def test_transparency_is_composited_on_white(format_zoo):
    pal = media.load_image(format_zoo["png_palette_transparent"])
    assert pal.getpixel((0, 0)) == (255, 255, 255)  # transparent index is black in the palette
    assert pal.getpixel((16, 16)) == (255, 0, 0)
    rgba = media.load_image(format_zoo["png_rgba"])
    assert rgba.getpixel((0, 0)) == (255, 255, 255)  # (0, 0, 0, 0): naive convert gives black
    assert rgba.getpixel((16, 16)) == (255, 0, 0)
    half = rgba.getpixel((28, 28))  # black at alpha 128 over white
    assert all(abs(c - 127) <= 2 for c in half)


def test_16_bit_images_are_scaled_not_clipped(format_zoo):
    img = media.load_image(format_zoo["png_16bit_gray"])
    row = [img.getpixel((x, 4))[0] for x in range(256)]
    assert row[0] == 0 and row[-1] == 255
    assert 120 <= row[128] <= 136
    assert row == sorted(row)
    assert len(set(row)) > 200


def test_cmyk_and_animated_gif(format_zoo):
    r, g, b = media.load_image(format_zoo["jpeg_cmyk"]).getpixel((12, 8))
    assert r > 230 and g < 30 and b < 30
    assert media.load_image(format_zoo["gif_animated"]).getpixel((5, 5)) == (255, 0, 0)  # first frame


def test_decompression_bomb_is_refused_with_its_size(format_zoo):
    with pytest.raises(DecodeError) as e:
        media.load_image(format_zoo["png"], max_pixels=1000)
    assert e.value.reason == "image too large: 64 x 48 pixels"
    assert media.load_image(format_zoo["png"], max_pixels=64 * 48).size == (64, 48)


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("jpeg_truncated", ["truncated or corrupt image"]),
        ("jpg_really_text", ["not a JPEG image", "text"]),
        ("note_binary", ["not an image", "binary"]),
        ("note_empty", ["not an image", "empty file"]),
        ("broken_symlink", ["file not found"]),
    ],
)
def test_bad_images_raise_decode_error_with_a_reason(format_zoo, key, words):
    path = _case(format_zoo, key)
    with pytest.raises(DecodeError) as e:
        media.load_image(path)
    for word in words:
        assert word in e.value.reason
    assert e.value.path == path
    if key != "jpeg_truncated":  # the header of a truncated JPEG is intact
        with pytest.raises(DecodeError):
            media.image_dimensions(path)


def test_jpeg_draft_decode_keeps_short_side_at_least_min_side(tmp_path):
    (path,) = synth.make_camera_jpegs(tmp_path, n=1, size=(1600, 1200))
    assert media.load_image(path).size == (1600, 1200)
    img = media.load_image(path, min_side=224)
    assert img.mode == "RGB"
    assert img.size[0] < 1600 and min(img.size) >= 224
    assert img.size == (400, 300)  # 1/4 is the biggest reduction that keeps 224
    assert min(media.load_image(path, min_side=700).size) >= 700
    assert media.image_dimensions(path) == (1600, 1200)


def test_min_side_leaves_other_formats_at_full_size(format_zoo):
    assert media.load_image(format_zoo["png"], min_side=8).size == (64, 48)


def test_rotated_jpeg_with_draft_is_still_upright(tmp_path):
    src = Image.new("RGB", (800, 400), (0, 0, 255))
    src.paste((255, 0, 0), (0, 0, 800, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.jpg"
    src.save(path, quality=95, exif=exif)
    img = media.load_image(path, min_side=100)
    assert img.size == (100, 200)
    assert img.getpixel((90, 100))[0] > 200  # red on the right


# ------------------------------------------------------------------------------------------- notes


def test_notes_in_various_encodings_read_correctly(format_zoo):
    assert media.read_note(format_zoo["note_utf8"]) == "# Groceries\n\nMilk, eggs and crème fraîche.\n"
    assert media.read_note(format_zoo["note_utf8_bom_crlf"]) == "Line one.\nLine two.\n"
    assert media.read_note(format_zoo["note_utf16"]) == "Größe: naïve café 🌊\nSecond line.\n"
    assert media.read_note(format_zoo["note_latin1"]) == "Crème brûlée à la française, déjà vu.\n"


def test_windows_1252_and_utf16_big_endian(tmp_path):
    cp = tmp_path / "euro.txt"
    cp.write_bytes("Price: 5 € – “quoted”\rold Mac line\n".encode("cp1252"))
    assert media.read_note(cp) == "Price: 5 € – “quoted”\nold Mac line\n"
    be = tmp_path / "be.txt"
    be.write_bytes(b"\xfe\xff" + "Grüße".encode("utf-16-be"))
    assert media.read_note(be) == "Grüße"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("note_empty", "empty note"),
        ("note_whitespace", "empty note"),
        ("note_binary", "binary file, not text"),
    ],
)
def test_bad_notes_raise_decode_error(format_zoo, key, reason):
    with pytest.raises(DecodeError) as e:
        media.read_note(format_zoo[key])
    assert e.value.reason == reason


def test_control_characters_without_nul_are_binary(tmp_path):
    path = tmp_path / "ctrl.txt"
    path.write_bytes(bytes(range(1, 32)) * 20 + b"some words")
    with pytest.raises(DecodeError, match="binary file"):
        media.read_note(path)


def test_too_large_note_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.md"
    path.write_text("word " * 600_000)
    with pytest.raises(DecodeError) as e:
        media.read_note(path, max_bytes=1_000_000)
    assert e.value.reason == "note too large: 3.0 MB"
    with pytest.raises(DecodeError, match="cannot read file"):
        media.read_note(tmp_path / "missing.txt")


# ----------------------------------------------------------------------------------------- walking

VISIBLE = {
    "album/deeper/nested.png",
    "album/Été à la plage 🌊 2023.jpg",
    "alpha.png",
    "anim.gif",
    "binary.txt",
    "blank.md",
    "depth16.png",
    "empty.txt",
    "groceries.md",
    "latin1.txt",
    "not_a_photo.jpg",
    "old.bmp",
    "palette.png",
    "photo.webp",
    "plain.png",
    "print.jpg",
    "rotated.jpg",
    "scan.dat",
    "scan.tiff",
    "settings.json",
    "truncated.jpg",
    "utf16.txt",
    "windows.txt",
}


def _rel(paths, root):
    return [p.relative_to(root).as_posix() for p in paths]


def test_walk_skips_hidden_system_and_broken_files_and_survives_the_loop(format_zoo):
    root = format_zoo["png"].parent
    found = _rel(media.walk([root]), root)
    expected = VISIBLE | ({"iphone.heic"} if "heic" in format_zoo else set())
    assert set(found) == expected
    assert len(found) == len(set(found))  # the loop back to the root yields nothing twice
    assert found == _rel(media.walk(root), root)  # stable order, and a single root is accepted
    assert all(isinstance(p, Path) for p in media.walk(root))


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_walk_from_inside_a_loop_yields_every_file_once(format_zoo):
    loop = _case(format_zoo, "symlink_loop").parent
    found = list(media.walk([loop]))
    assert found, "the link back to the parent is followed once"
    assert all(p.as_posix().startswith(loop.as_posix() + "/back/") for p in found)
    real = [os.path.realpath(p) for p in found]
    assert len(real) == len(set(real))
    assert {Path(r).name for r in real} >= {"plain.png", "nested.png"}


def test_walk_overlapping_roots_and_file_roots(format_zoo, caplog):
    root = format_zoo["png"].parent
    album = root / "album"
    found = list(media.walk([album, root, format_zoo["png"], root / "no-such-dir"]))
    real = [os.path.realpath(p) for p in found]
    assert len(real) == len(set(real)) + 1  # only the explicit file root repeats
    assert found[0].is_relative_to(album)  # roots are walked in the order given
    assert any("no-such-dir" in r.getMessage() for r in caplog.records)


def test_walk_excludes_by_resolved_path(format_zoo):
    root = format_zoo["png"].parent
    # The same folder spelled through the symlink: excluded all the same.
    spelled = root / "loop" / "back" / "album" if "symlink_loop" in format_zoo else root / "album"
    found = set(_rel(media.walk([root], exclude=[spelled]), root))
    assert not any(p.startswith("album/") for p in found)
    assert "plain.png" in found
    assert list(media.walk([root], exclude=[root])) == []


def test_walk_logs_and_skips_unreadable_folders(tmp_path, monkeypatch, caplog):
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.txt").write_text("a")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "b.txt").write_text("b")
    (tmp_path / "z.txt").write_text("z")
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(discover.os, "scandir", scandir)
    with caplog.at_level(logging.WARNING, logger="mmexplorer.core.media"):
        found = _rel(media.walk([tmp_path]), tmp_path)
    assert found == ["ok/a.txt", "z.txt"]
    assert any("locked" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------------------------- classify and hash


@pytest.mark.parametrize(
    ("key", "modality"),
    [
        ("png", Modality.PHOTO),
        ("png_named_dat", Modality.PHOTO),  # content says image
        ("jpg_really_text", Modality.PHOTO),  # extension says photo; decoding reports the lie
        ("heic", Modality.PHOTO),
        ("note_utf8", Modality.NOTE),
        ("note_binary", Modality.NOTE),
        ("unknown_text", None),
        ("ds_store", None),
        ("thumbs_db", None),
    ],
)
def test_classify_zoo(format_zoo, key, modality):
    assert media.classify(_case(format_zoo, key)) is modality


def test_classify_sniffs_content(tmp_path, format_zoo):
    png_as_txt = tmp_path / "diagram.txt"
    png_as_txt.write_bytes(format_zoo["png"].read_bytes())
    assert media.classify(png_as_txt) is Modality.PHOTO
    wav = tmp_path / "memo.bin"
    wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(32))
    assert media.classify(wav) is Modality.RECORDING
    bmw = tmp_path / "BMW.dat"  # "BM" is a BMP signature only with the rest of the header
    bmw.write_text("BMW insurance renewal is due in March.")
    assert media.classify(bmw) is None
    assert media.classify(tmp_path / "song.MP3") is Modality.RECORDING  # unreadable: extension decides
    assert media.classify(tmp_path / "unknown.xyz") is None
    assert {".jpg", ".heic", ".tif"} <= media.PHOTO_EXTENSIONS
    assert {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".opus", ".aac", ".aiff", ".amr", ".wma"} <= media.RECORDING_EXTENSIONS
    assert media.NOTE_EXTENSIONS == {".txt", ".md", ".markdown"}


def test_content_hash_follows_content_not_name(tmp_path):
    data = os.urandom(2_500_000)  # spans several 1 MiB blocks
    a, b = tmp_path / "a.jpg", tmp_path / "sub dir" / "b renamed.jpg"
    b.parent.mkdir()
    a.write_bytes(data)
    b.write_bytes(data)
    digest = media.content_hash(a)
    assert digest == media.content_hash(b) == hashlib.blake2b(data, digest_size=16).hexdigest()
    assert len(digest) == 32
    b.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert media.content_hash(b) != digest


# ---------------------------------------------------------------------------------------- chunking

LONG_TEXT = "\n\n".join(
    f"{note.title}\n\n{note.body} Is that clear? Yes! It was (mostly) fine..." for note in synth.NOTES
)


def _check_chunks(text, chunks, max_tokens, count):
    assert [c.ord for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert c.text == text[c.start : c.end]
        assert c.text == c.text.strip() and c.text
        assert count(c.text) <= max_tokens
    for a, b in itertools.pairwise(chunks):
        assert a.start < b.start and a.end < b.end
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


@pytest.mark.parametrize("max_tokens", [12, 40, 128])
def test_chunks_have_exact_offsets_and_fit_the_budget(max_tokens):
    chunks = media.chunk_text(LONG_TEXT, max_tokens=max_tokens)
    assert len(chunks) > 1
    _check_chunks(LONG_TEXT, chunks, max_tokens, media.approx_token_count)


def test_chunks_overlap_by_one_sentence():
    text = " ".join(f"Sentence number {i} is here." for i in range(20))
    chunks = media.chunk_text(text, max_tokens=20, overlap=1)
    assert len(chunks) > 3
    for a, b in itertools.pairwise(chunks):
        last_of_a = a.text[a.text.rfind("Sentence") :]
        assert b.text.startswith(last_of_a)
    no_overlap = media.chunk_text(text, max_tokens=20, overlap=0)
    assert all(a.end < b.start for a, b in itertools.pairwise(no_overlap))


def test_short_text_is_one_chunk_and_blank_text_none():
    text = "  \n A single short note.  \n"
    (chunk,) = media.chunk_text(text, max_tokens=50)
    assert chunk.text == "A single short note." and text[chunk.start : chunk.end] == chunk.text
    assert media.chunk_text(" \n\t ", max_tokens=50) == []


def test_over_long_sentence_is_split_by_words_and_giant_words_by_characters():
    text = "Start. " + " ".join(f"w{i}" for i in range(300)) + " end. " + "x" * 95 + " tail."
    count_chars = len  # a tokenizer where every character is a token
    chunks = media.chunk_text(text, max_tokens=40, count_tokens=count_chars)
    _check_chunks(text, chunks, 40, count_chars)
    assert any(set(c.text) == {"x"} for c in chunks)
    with pytest.raises(UsageError):
        media.chunk_text(text, max_tokens=0)


# ------------------------------------------------------------------------------------ read-only


def test_media_functions_leave_the_folder_untouched(format_zoo, tree_snapshot):
    root = format_zoo["png"].parent
    before = tree_snapshot(root)
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    for path in media.walk([root]):
        media.content_hash(path)
        kind = media.classify(path)
        try:
            if kind is Modality.PHOTO:
                media.image_dimensions(path)
                media.load_image(path, min_side=16)
            elif kind is Modality.NOTE:
                media.chunk_text(media.read_note(path), max_tokens=16)
        except DecodeError:
            pass
    assert tree_snapshot(root) == before
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) <= fds  # every file we opened was closed


# ------------------------------------------------------------------------------------------- synth


def test_synth_is_deterministic_and_library_is_labelled(tmp_path):
    a = synth.render_shape("red", "star", size=48, seed=3).tobytes()
    assert a == synth.render_shape("red", "star", size=48, seed=3).tobytes()
    assert a != synth.render_shape("red", "star", size=48, seed=4).tobytes()
    lib = synth.make_photo_library(tmp_path, n=12, size=(32, 32), formats=("jpg", "png", "webp"))
    assert len(lib) == 12 and len({p for p, _ in lib}) == 12
    assert {p.suffix for p, _ in lib} == {".jpg", ".png", ".webp"}
    assert any(p.parent != tmp_path for p, _ in lib)
    for path, cap in lib:
        colour, shape = cap.removeprefix("a ").split()
        assert colour in synth.COLOURS and shape in synth.SHAPES
        assert colour not in path.name and shape not in path.name
        assert media.load_image(path).size == (32, 32)


def test_note_queries_point_at_notes_without_their_key_words(tmp_path):
    keys = [n.key for n in synth.NOTES]
    assert len(keys) == len(set(keys)) >= 12
    paths = synth.make_note_library(tmp_path)
    assert set(paths) == set(keys)
    for query, key in synth.NOTE_QUERIES:
        assert key in paths
        assert not set(key.split("_")) & set(query.lower().split()), query
    assert media.read_note(paths["dentist"]).startswith("Dentist appointment\n")


def test_a_jpeg_cut_inside_its_header_is_reported_as_corrupt_not_unreadable(tmp_path):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[:200])
    with pytest.raises(media.DecodeError) as info:
        media.load_image(path, min_side=32)
    assert info.value.reason.startswith("truncated or corrupt image"), info.value.reason
