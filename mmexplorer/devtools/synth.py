"""Generated media for tests, benchmarks and screenshots: shapes, camera-like photos, notes, odd files.

Everything is deterministic given a seed, needs only PIL and numpy, and writes only under the
folder it is given.
"""

from __future__ import annotations

import hashlib
import os
import random
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw

# The scene renderer is core's (calibration renders these scenes at run time); re-exported here for
# the test libraries below and for scripts that use synth.render_shape, COLOURS, SHAPES and caption.
from mmexplorer.core.calibration.scenes import COLOURS, SHAPES, caption, polygon, render_shape

_PIL_FORMATS = {
    "jpg": "JPEG",
    "jpeg": "JPEG",
    "png": "PNG",
    "webp": "WEBP",
    "gif": "GIF",
    "bmp": "BMP",
    "tif": "TIFF",
    "tiff": "TIFF",
    "heic": "HEIF",
}


def _save(img: Image.Image, path: Path, fmt: str) -> None:
    pil_format = _PIL_FORMATS[fmt.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, object] = {}
    if pil_format == "JPEG":
        options = {"quality": 90}
    elif pil_format == "WEBP":
        options = {"quality": 85}
    elif pil_format == "PNG":
        options = {"compress_level": 1}
    elif pil_format == "HEIF":
        from pillow_heif import register_heif_opener

        register_heif_opener()
        options = {"quality": 80}
    img.save(path, pil_format, **options)


def make_photo_library(
    root: str | os.PathLike[str],
    *,
    n: int,
    seed: int = 0,
    size: tuple[int, int] = (256, 256),
    formats: tuple[str, ...] = ("jpg", "png"),
) -> list[tuple[Path, str]]:
    """Write `n` shape photos with known captions, cycling through every colour x shape pair.

    File names say nothing about the content (IMG_0000.jpg ...), and every fifth file goes into
    a subfolder (some two levels deep) so recursion is exercised.

    Args:
        root: the folder to fill (created if needed).
        n: how many photos.
        seed: varies the order of pairs and the jitter.
        size: (width, height) of each photo.
        formats: file extensions to cycle through (jpg, png, webp, gif, bmp, tiff, heic).

    Returns:
        (path, caption) for each photo, in the order written.
    """
    root = Path(root)
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    random.Random(seed).shuffle(pairs)
    out = []
    for i in range(n):
        colour, shape = pairs[i % len(pairs)]
        fmt = formats[i % len(formats)]
        sub = {4: "album", 9: "album/trip"}.get(i % 10, "")
        path = root / sub / f"IMG_{i:04d}.{fmt}"
        _save(render_shape(colour, shape, size=size, seed=seed * 1_000_003 + i), path, fmt)
        out.append((path, caption(colour, shape)))
    return out


def make_camera_jpegs(
    root: str | os.PathLike[str],
    *,
    n: int,
    size: tuple[int, int] = (1600, 1200),
    seed: int = 0,
    fmt: str = "jpg",
) -> list[Path]:
    """Write `n` camera-like photos: smooth gradients, soft shapes, textures and sensor noise.

    Flat colour compresses to almost nothing and decodes in no time; these carry detail at
    every frequency, so decode cost and file size are like a real camera's (a few hundred kB
    per 2 MP at JPEG quality 90). Generation is vectorised (a few tens of ms per photo).

    Args:
        root: the folder to fill (created if needed).
        n: how many photos.
        size: (width, height).
        seed: the same seed gives the same files.
        fmt: "jpg" or "png".

    Returns:
        The paths written, DSC00000.jpg, DSC00001.jpg ...
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    w, h = size
    # The smooth part is computed at 1/8 scale in numpy and upscaled by PIL (both cheap); sharp
    # edges are drawn at full size; sensor grain is one precomputed noise image, shifted per photo
    # and added in C by ImageChops.
    sw, sh = max(8, w // 8), max(8, h // 8)
    x = np.linspace(0.0, 1.0, sw, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None]
    pad = 64
    rng0 = np.random.default_rng([seed, 0xC0FFEE])
    grain_arr = np.clip(rng0.normal(16.0, 6.0, (h + pad, w + pad, 3)), 0, 32).astype(np.uint8)
    grain = Image.fromarray(grain_arr, "RGB")
    exif = Image.Exif()
    exif[0x010F] = "mmexplorer"  # Make
    exif[0x0110] = "Synth Camera"  # Model
    ext = "jpg" if fmt.lower() in ("jpg", "jpeg") else fmt.lower()
    paths = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        small = np.empty((sh, sw, 3), np.float32)
        for c in range(3):
            a, b = rng.uniform(-70, 70, 2)
            chan = np.float32(rng.uniform(70, 185)) + np.float32(a) * x + np.float32(b) * y
            for _ in range(3):  # textures from coarse to fine
                fx, fy = rng.uniform(1.5, 60, 2)
                px, py = rng.uniform(0, 2 * np.pi, 2)
                amp = np.float32(rng.uniform(5, 20))
                chan = chan + amp * np.sin(2 * np.pi * fx * x + px) * np.cos(2 * np.pi * fy * y + py)
            small[:, :, c] = chan
        for _ in range(3):  # soft-edged objects
            bx, by, br = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            d2 = ((x - bx) * (w / h)) ** 2 + (y - by) ** 2
            mask = np.clip((br * br - d2) / (0.05 * br * br), 0.0, 1.0)
            small += mask[:, :, None] * rng.uniform(-70, 70, 3).astype(np.float32)
        img = Image.fromarray(np.clip(small, 0, 255).astype(np.uint8), "RGB")
        img = img.resize((w, h), Image.Resampling.BICUBIC)
        layer = img.copy()
        draw = ImageDraw.Draw(layer)
        for _ in range(4):  # hard edges (buildings, furniture), blended so the texture shows through
            cx, cy = rng.uniform(0, 1, 2) * (w, h)
            radii = [float(r) for r in rng.uniform(0.05, 0.25, 4) * min(w, h)]
            pts = polygon(float(cx), float(cy), radii, float(rng.uniform(0, 2 * np.pi)))
            draw.polygon(pts, fill=tuple(int(v) for v in rng.integers(20, 236, 3)))
        img = Image.blend(img, layer, 0.7)
        dx, dy = (int(v) for v in rng.integers(0, pad, 2))
        img = ImageChops.add(img, grain.crop((dx, dy, dx + w, dy + h)), scale=1.0, offset=-16)
        path = root / f"DSC{i:05d}.{ext}"
        if ext == "jpg":
            img.save(path, "JPEG", quality=90, exif=exif)
        elif ext == "png":
            img.save(path, "PNG", compress_level=1)
        else:
            _save(img, path, ext)
        paths.append(path)
    return paths


def make_format_zoo(root: str | os.PathLike[str]) -> dict[str, Path]:
    """Write one file per tricky case a media decoder meets in real folders.

    Keys (a case is missing where this machine cannot make it: heic without pillow-heif's
    encoder, symlinks where the OS refuses them):

    - jpeg_exif_rotated: 120 x 80 stored, EXIF orientation 6 (shows as 80 x 120); the stored
      top half is red and the bottom half blue, so upright the right half is red.
    - png (64 x 48), webp (40 x 30), bmp (33 x 17), tiff (50 x 20), heic (64 x 40).
    - png_palette_transparent: palette PNG, index 0 (black) transparent, red square in the middle.
    - png_rgba: RGBA 32 x 32; fully transparent black outside, opaque red centre, and the
      bottom-right 8 x 8 is black at alpha 128.
    - png_16bit_gray: 256 x 8 16-bit greyscale ramp 0..65535 left to right.
    - jpeg_cmyk: CMYK JPEG, pure red.
    - gif_animated: 3 frames 32 x 32, red, green, blue.
    - unicode_name: a JPEG named with spaces, accents and an emoji, in subfolder "album".
    - in_subfolder: a PNG in "album/deeper".
    - jpeg_truncated: a JPEG cut to 60 % of its bytes.
    - jpg_really_text: text in a .jpg file.
    - png_named_dat: a PNG image named scan.dat.
    - note_utf8: plain UTF-8 note; note_utf8_bom_crlf: UTF-8 with BOM and CRLF newlines.
    - note_utf16: UTF-16 with BOM, accents and an emoji; note_latin1: Latin-1 with accents.
    - note_empty: 0 bytes; note_whitespace: only blanks; note_binary: random bytes with NULs.
    - unknown_text: a .json file (not media).
    - hidden_file: .secret.jpg; hidden_dir_file: .cache/inside.png; ds_store: .DS_Store;
      thumbs_db: Thumbs.db.
    - symlink_loop: loop/back -> .. (the zoo root); broken_symlink: gone.jpg -> missing target.

    Args:
        root: the folder to fill (created if needed).

    Returns:
        Case name -> path.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    z: dict[str, Path] = {}

    rot = Image.new("RGB", (120, 80), (0, 0, 255))
    rot.paste((255, 0, 0), (0, 0, 120, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    z["jpeg_exif_rotated"] = root / "rotated.jpg"
    rot.save(z["jpeg_exif_rotated"], "JPEG", quality=95, exif=exif)

    z["png"] = root / "plain.png"
    render_shape("green", "star", size=(64, 48), seed=1).save(z["png"])
    z["webp"] = root / "photo.webp"
    render_shape("blue", "circle", size=(40, 30), seed=2).save(z["webp"], "WEBP", quality=90)
    z["bmp"] = root / "old.bmp"
    render_shape("yellow", "square", size=(33, 17), seed=3).save(z["bmp"], "BMP")
    z["tiff"] = root / "scan.tiff"
    render_shape("purple", "cross", size=(50, 20), seed=4).save(z["tiff"], "TIFF")
    try:
        heic = root / "iphone.heic"
        _save(render_shape("orange", "ring", size=(64, 40), seed=5), heic, "heic")
        z["heic"] = heic
    except (ImportError, OSError, KeyError, ValueError):
        pass

    pal = Image.new("P", (32, 32), 0)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    ImageDraw.Draw(pal).rectangle((8, 8, 23, 23), fill=1)
    z["png_palette_transparent"] = root / "palette.png"
    pal.save(z["png_palette_transparent"], transparency=0)

    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle((8, 8, 23, 23), fill=(255, 0, 0, 255))
    rgba.paste((0, 0, 0, 128), (24, 24, 32, 32))
    z["png_rgba"] = root / "alpha.png"
    rgba.save(z["png_rgba"])

    ramp = np.repeat(np.linspace(0, 65535, 256).round().astype(np.uint16)[None, :], 8, axis=0)
    z["png_16bit_gray"] = root / "depth16.png"
    Image.fromarray(ramp).save(z["png_16bit_gray"])

    z["jpeg_cmyk"] = root / "print.jpg"
    Image.new("CMYK", (24, 16), (0, 255, 255, 0)).save(z["jpeg_cmyk"], "JPEG", quality=95)

    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    z["gif_animated"] = root / "anim.gif"
    frames[0].save(z["gif_animated"], save_all=True, append_images=frames[1:], duration=100, loop=0)

    z["unicode_name"] = root / "album" / "Été à la plage 🌊 2023.jpg"
    _save(render_shape("blue", "triangle", size=(48, 48), seed=6), z["unicode_name"], "jpg")
    z["in_subfolder"] = root / "album" / "deeper" / "nested.png"
    _save(render_shape("red", "circle", size=(24, 24), seed=7), z["in_subfolder"], "png")

    noisy = np.random.default_rng(8).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    full = root / "_whole.jpg"
    Image.fromarray(noisy).save(full, "JPEG", quality=90)
    data = full.read_bytes()
    full.unlink()
    z["jpeg_truncated"] = root / "truncated.jpg"
    z["jpeg_truncated"].write_bytes(data[: int(len(data) * 0.6)])

    z["jpg_really_text"] = root / "not_a_photo.jpg"
    z["jpg_really_text"].write_text("This is not a picture, only a shopping list: milk, eggs.\n")
    z["png_named_dat"] = root / "scan.dat"
    render_shape("red", "square", size=(20, 10), seed=9).save(z["png_named_dat"], "PNG")

    z["note_utf8"] = root / "groceries.md"
    z["note_utf8"].write_text("# Groceries\n\nMilk, eggs and crème fraîche.\n", encoding="utf-8")
    z["note_utf8_bom_crlf"] = root / "windows.txt"
    z["note_utf8_bom_crlf"].write_bytes("\ufeffLine one.\r\nLine two.\r\n".encode())
    z["note_utf16"] = root / "utf16.txt"
    z["note_utf16"].write_bytes("Größe: naïve café 🌊\nSecond line.\n".encode("utf-16"))
    z["note_latin1"] = root / "latin1.txt"
    z["note_latin1"].write_bytes("Crème brûlée à la française, déjà vu.\n".encode("latin-1"))
    z["note_empty"] = root / "empty.txt"
    z["note_empty"].write_bytes(b"")
    z["note_whitespace"] = root / "blank.md"
    z["note_whitespace"].write_text(" \n\t\n  \n")
    z["note_binary"] = root / "binary.txt"
    z["note_binary"].write_bytes(bytes(np.random.default_rng(10).integers(0, 256, 2048, dtype=np.uint8)))
    z["unknown_text"] = root / "settings.json"
    z["unknown_text"].write_text('{"not": "media"}\n')

    z["hidden_file"] = root / ".secret.jpg"
    _save(render_shape("green", "ring", size=(16, 16), seed=11), z["hidden_file"], "jpg")
    z["hidden_dir_file"] = root / ".cache" / "inside.png"
    _save(render_shape("green", "cross", size=(16, 16), seed=12), z["hidden_dir_file"], "png")
    z["ds_store"] = root / ".DS_Store"
    z["ds_store"].write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
    z["thumbs_db"] = root / "Thumbs.db"
    z["thumbs_db"].write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64))

    (root / "loop").mkdir(exist_ok=True)
    try:
        (root / "loop" / "back").symlink_to("..", target_is_directory=True)
        z["symlink_loop"] = root / "loop" / "back"
    except OSError:  # Windows without developer mode
        pass
    try:
        (root / "gone.jpg").symlink_to("does-not-exist.jpg")
        z["broken_symlink"] = root / "gone.jpg"
    except OSError:
        pass
    return z


def snapshot_tree(root: str | os.PathLike[str]) -> dict[str, tuple[int, int, str]]:
    """Fingerprint every entry under a folder, hidden ones included, without following symlinks.

    Compare two snapshots to prove a folder was not touched: files map to (size, mtime_ns,
    sha256), folders to (0, mtime_ns, "<dir>") so files created and deleted again show up as a
    changed folder mtime, and symlinks to (0, 0, "-> target").

    Args:
        root: the folder.

    Returns:
        Relative path (with "/") -> fingerprint.
    """
    root = Path(root)
    snap: dict[str, tuple[int, int, str]] = {}
    st = root.lstat()
    snap["."] = (0, st.st_mtime_ns, "<dir>")
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                snap[rel] = (0, 0, f"-> {os.readlink(p)}")
            elif stat.S_ISDIR(st.st_mode):
                snap[rel] = (0, st.st_mtime_ns, "<dir>")
            else:
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                snap[rel] = (st.st_size, st.st_mtime_ns, h.hexdigest())
    return snap


# ------------------------------------------------------------------------------------------- notes


@dataclass(frozen=True)
class SynthNote:
    """A short note on one clear topic. `text` is what the file holds."""

    key: str
    title: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.title}\n\n{self.body}\n"


NOTES: list[SynthNote] = [
    SynthNote(
        "banana_bread",
        "Banana bread",
        "Mash three very ripe bananas and stir in melted butter, brown sugar and one egg. "
        "Fold in flour, baking soda and a pinch of salt, then add chopped walnuts. "
        "Bake in a greased tin at 175 °C for about an hour, until a skewer comes out clean.",
    ),
    SynthNote(
        "car_insurance",
        "Car insurance renewal",
        "The policy for the Golf renews on 1 March and the premium went up to 640 euros a year. "
        "Compare quotes from at least two other companies before then. "
        "Mention the five-year no-claims bonus, and check whether windscreen damage is covered.",
    ),
    SynthNote(
        "alps_hike",
        "Hiking trip in the Alps",
        "Three days walking from hut to hut above Zermatt at the end of July. "
        "Book the huts early, they are full by May. "
        "Pack crampons, a warm layer and blister plasters; the glacier crossing on day two "
        "starts before sunrise.",
    ),
    SynthNote(
        "dentist",
        "Dentist appointment",
        "Check-up with Dr. Meier on Tuesday at 9:30. "
        "Ask about the sensitive molar on the lower left and whether the old filling needs replacing. "
        "Bring the health card and do not eat right before.",
    ),
    SynthNote(
        "python_tips",
        "Python programming tips",
        "Prefer list comprehensions to building lists with append in a loop. "
        "Use pathlib instead of os.path, and f-strings for formatting. "
        "Keep each project in its own virtual environment and pin the dependencies.",
    ),
    SynthNote(
        "tomatoes",
        "Growing tomatoes",
        "Plant the seedlings out after the last frost, deep enough to bury part of the stem. "
        "Pinch out the side shoots every week and tie the main stem to a stake. "
        "Water at the base in the morning, never on the leaves, to avoid blight.",
    ),
    SynthNote(
        "grandma_birthday",
        "Grandma's 90th birthday party",
        "The party is on Saturday at three in the community hall. "
        "Order the chocolate cake from the bakery on Main Street and collect it in the morning. "
        "Invite the cousins from Lyon, and put together a slideshow of old family photos.",
    ),
    SynthNote(
        "job_interview",
        "Job interview",
        "Interview at Acme Analytics for the data engineer role on Thursday at 14:00. "
        "Prepare two stories about projects that went wrong and what I learned. "
        "Read their engineering blog and ask who I would be working with day to day.",
    ),
    SynthNote(
        "moving_flat",
        "Moving to the new flat",
        "The van is booked for the 14th, from eight in the morning. "
        "Cancel the electricity contract, forward the post, and give the bank the new address. "
        "Pack the kitchen last and label every box with the room it goes to.",
    ),
    SynthNote(
        "cat_vet",
        "Vet visit for Miso",
        "Miso the cat has her yearly booster vaccination on the 3rd. "
        "She weighs 4.8 kg, a bit more than last year, so cut down on treats. "
        "Worming tablets every three months; the next dose is in June.",
    ),
    SynthNote(
        "tax_return",
        "Tax return",
        "Collect the payslips, the bank interest statements and the receipts for the home office desk. "
        "Charity donations are deductible, so find the confirmation emails. "
        "The deadline for filing is 31 July.",
    ),
    SynthNote(
        "marathon_training",
        "Marathon training plan",
        "Long run on Sundays, building from 18 to 32 km over ten weeks. "
        "Intervals on Wednesday: six times 800 metres at race pace with short recoveries. "
        "Replace the shoes after about 700 km.",
    ),
]

# Queries whose right answer is one note, worded without that note's own key words where
# possible, so a test passes by meaning and not by shared words.
NOTE_QUERIES: list[tuple[str, str]] = [
    ("a cake recipe for old spotty yellow fruit", "banana_bread"),
    ("how much will covering my vehicle cost this year", "car_insurance"),
    ("multi-day trek in the Swiss mountains", "alps_hike"),
    ("when is someone looking at my teeth", "dentist"),
    ("advice for writing cleaner code in a scripting language", "python_tips"),
    ("how do I care for the plants in my vegetable patch", "tomatoes"),
    ("celebration for my grandmother turning ninety", "grandma_birthday"),
    ("getting ready to meet a potential employer", "job_interview"),
    ("checklist for relocating to another apartment", "moving_flat"),
    ("taking my pet to the animal doctor", "cat_vet"),
    ("paperwork about my income for the government", "tax_return"),
    ("getting fit for a long-distance race on foot", "marathon_training"),
    ("my motor cover is getting more expensive", "car_insurance"),
    ("organising a family gathering for an elderly relative", "grandma_birthday"),
]


def make_note_library(
    root: str | os.PathLike[str], *, notes: list[SynthNote] | None = None
) -> dict[str, Path]:
    """Write each note to its own file, alternating .md and .txt, with neutral file names.

    Args:
        root: the folder to fill (created if needed).
        notes: the notes to write; default `NOTES`.

    Returns:
        Note key -> path.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, note in enumerate(NOTES if notes is None else notes):
        path = root / f"note-{i:02d}.{'md' if i % 2 == 0 else 'txt'}"
        path.write_text(note.text, encoding="utf-8")
        out[note.key] = path
    return out
