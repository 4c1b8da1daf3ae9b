"""Frames from a camera or a video file, through one QtMultimedia pipeline.

A :class:`FrameSource` feeds a ``QVideoSink`` from either a ``QCamera`` (via a
``QMediaCaptureSession``) or a ``QMediaPlayer`` playing a file, and emits every
frame as an RGB ``uint8`` array, mirrored and shrunk to the chosen resolution.
So a video file stands in for a webcam in tests and demos, with the same code
path after the sink.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QUrl, Signal

from editor.ui.qimage import qimage_to_rgb

#: resolution choices: label -> longest side in pixels (None: as delivered)
RESOLUTIONS = {"640 x 480": 640, "320 x 240": 320, "1280 x 720": 1280, "Native": None}


def camera_names() -> list[str]:
    """Descriptions of the cameras QtMultimedia sees (empty without one)."""
    try:
        from PySide6.QtMultimedia import QMediaDevices

        return [d.description() for d in QMediaDevices.videoInputs()]
    except ImportError:
        return []


class FrameSource(QObject):
    """Camera or video file -> ``frameReady(ndarray)`` (RGB ``uint8``)."""

    frameReady = Signal(object)
    error = Signal(str)
    stateChanged = Signal(str)  # "camera: NAME", "video: FILE" or "" when stopped

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.mirror = True          # like a mirror: what users expect from a webcam
        self.max_side: int | None = 640
        self.frames = 0
        self.latest: np.ndarray | None = None
        self._camera = self._player = self._session = self._sink = None

    # -- sources ------------------------------------------------------------------
    def _make_sink(self):
        from PySide6.QtMultimedia import QVideoSink

        if self._sink is None:
            self._sink = QVideoSink(self)
            self._sink.videoFrameChanged.connect(self._on_frame)
        return self._sink

    def open_camera(self, index: int = 0) -> bool:
        """Start camera ``index``; False (and ``error``) when there is none."""
        self.stop()
        try:
            from PySide6.QtMultimedia import QCamera, QMediaCaptureSession, QMediaDevices
        except ImportError as e:
            self.error.emit(f"QtMultimedia is not available ({e}); import images instead")
            return False
        devices = QMediaDevices.videoInputs()
        if not devices:
            self.error.emit("No camera found. Use a video file or import images instead.")
            return False
        device = devices[min(index, len(devices) - 1)]
        self._camera = QCamera(device, self)
        if self.max_side:
            formats = sorted(device.videoFormats(),
                             key=lambda f: abs(max(f.resolution().width(),
                                                   f.resolution().height()) - self.max_side))
            if formats:
                self._camera.setCameraFormat(formats[0])
        self._camera.errorOccurred.connect(lambda _e, text: self.error.emit(f"camera: {text}"))
        self._session = QMediaCaptureSession(self)
        self._session.setCamera(self._camera)
        self._session.setVideoSink(self._make_sink())
        self._camera.start()
        self.stateChanged.emit(f"camera: {device.description()}")
        return True

    def open_video(self, path: str, loop: bool = True) -> bool:
        """Play a video file as if it were a camera."""
        self.stop()
        try:
            from PySide6.QtMultimedia import QMediaPlayer
        except ImportError as e:
            self.error.emit(f"QtMultimedia is not available ({e}); import images instead")
            return False
        self._player = QMediaPlayer(self)
        self._player.setVideoOutput(self._make_sink())
        self._player.errorOccurred.connect(
            lambda _e, text: self.error.emit(f"video: {text or 'cannot play this file'}"))
        if loop:
            self._player.setLoops(QMediaPlayer.Loops.Infinite)
        self._player.setSource(QUrl.fromLocalFile(str(path)))
        self._player.play()
        self.stateChanged.emit(f"video: {path}")
        return True

    def stop(self) -> None:
        if self._camera is not None:
            self._camera.stop()
            self._camera.deleteLater()
        if self._player is not None:
            self._player.stop()
            self._player.deleteLater()
        if self._session is not None:
            self._session.deleteLater()
        self._camera = self._player = self._session = None
        self.stateChanged.emit("")

    @property
    def active(self) -> bool:
        return self._camera is not None or self._player is not None

    # -- frames -------------------------------------------------------------------
    def _on_frame(self, frame) -> None:
        if not frame.isValid():
            return
        image = frame.toImage()
        if image.isNull():
            return
        self.push_frame(qimage_to_rgb(image))

    def push_frame(self, rgb: np.ndarray) -> None:
        """Mirror and shrink a frame, keep it as ``latest`` and emit it."""
        if self.max_side and max(rgb.shape[:2]) > self.max_side:
            import cv2

            s = self.max_side / max(rgb.shape[:2])
            rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * s)),
                                   max(1, round(rgb.shape[0] * s))),
                             interpolation=cv2.INTER_AREA)
        if self.mirror:
            rgb = np.ascontiguousarray(rgb[:, ::-1])
        self.latest = rgb
        self.frames += 1
        self.frameReady.emit(rgb)
