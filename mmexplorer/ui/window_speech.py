"""The main window's speech part: a query spoken into the microphone, recognised by the worker."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from mmexplorer.core.types import ErrorInfo, Heard
from mmexplorer.ui.microphone import ListeningController, StreamFactory, microphone_status
from mmexplorer.ui.notices import ERROR


class _MicAnswer(QObject):
    answered = Signal(bool, str)


class SpeechPart(QObject):
    """Records a spoken query (the controller's audio callbacks reach it as queued signals) and
    hands the samples to the worker; whether a microphone exists is asked off the GUI thread
    (PortAudio can take a while to probe devices)."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.listener = ListeningController(parent=window)
        self.transcribe_rid = 0
        self.mic_forced = False  # a test (or a caller) chose the stream: the probe's answer is ignored
        sb, ls = window.search_bar, self.listener
        sb.mic_clicked.connect(self.toggle_listening)
        sb.listen_cancelled.connect(self.cancel_listening)
        ls.listening_changed.connect(sb.set_listening)
        ls.level_changed.connect(sb.set_level)
        ls.finished.connect(self._on_heard)
        ls.failed.connect(lambda message: window.status.show_message(message, 6000))
        transcribed = getattr(window.host, "transcribed", None)
        if transcribed is not None:
            transcribed.connect(self._on_transcribed)

    def check_microphone(self) -> None:
        """Ask sounddevice for an input device on a plain thread; the answer comes back queued."""
        done = _MicAnswer(self)
        done.answered.connect(self._on_microphone_status, Qt.ConnectionType.QueuedConnection)

        def ask() -> None:
            try:
                ok, why = microphone_status()
            except Exception as e:  # noqa: BLE001 - a broken audio stack disables the button, no more
                ok, why = False, f"The microphone cannot be used: {e}"
            try:
                done.answered.emit(ok, why)
            except RuntimeError:  # the window closed while PortAudio was still probing
                pass

        threading.Thread(target=ask, name="mmexplorer-mic-check", daemon=True).start()

    def _on_microphone_status(self, available: bool, reason: str) -> None:
        if self.mic_forced:
            return
        self.window.search_bar.set_mic_available(available, reason)
        self.window.speak_action.setEnabled(available)

    def set_microphone(
        self, stream_factory: StreamFactory | None, *, available: bool = True, reason: str = ""
    ) -> None:
        """Use this input stream factory (sounddevice.InputStream's arguments) for spoken queries."""
        self.mic_forced = True
        if stream_factory is not None:
            self.listener.stream_factory = stream_factory
        self.window.search_bar.set_mic_available(available, reason)
        self.window.speak_action.setEnabled(available)

    def toggle_listening(self) -> None:
        """The microphone button: start listening, or stop and recognise what was said."""
        if self.listener.active:
            self.listener.stop()
            return
        sb = self.window.search_bar
        if not sb.mic_available or sb.transcribing:
            return
        self.listener.start()

    def cancel_listening(self) -> None:
        if self.listener.active:
            self.listener.cancel()
            self.window.status.show_message("Stopped listening", 3000)

    def _on_heard(self, audio: Any, sample_rate: int) -> None:
        transcribe = getattr(self.window.host, "transcribe", None)
        if transcribe is None:
            self.window.notices.post(ERROR, "Spoken queries are not available in this window")
            return
        self.window.search_bar.set_transcribing(True)
        self.transcribe_rid = transcribe(audio, sample_rate=sample_rate)

    def _on_transcribed(self, rid: int, heard: Heard) -> None:
        if rid != self.transcribe_rid:
            return
        self.transcribe_rid = 0
        sb = self.window.search_bar
        sb.set_transcribing(False)
        if not heard.text.strip():
            self.window.status.show_message(
                "Did not catch any words: try again, a little closer to the microphone", 6000
            )
            return
        sb.set_heard(heard.text, heard.distinct_alternatives())

    def on_failed(self, rid: int, info: ErrorInfo) -> None:
        """A failure of the spoken query being recognised ends the wait (the notice says why)."""
        if rid and rid == self.transcribe_rid:
            self.transcribe_rid = 0
            self.window.search_bar.set_transcribing(False)
