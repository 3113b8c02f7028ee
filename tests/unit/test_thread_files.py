"""Which files a timeline entry names that Threadline keeps (threads/files.py): served to
staff by digest, and removed with the entry's content on erasure. And the fake Twilio's
recording media is audio a browser plays."""

from __future__ import annotations

import io
import wave

from threadline.simulated.twilio import silent_mp3, silent_wav
from threadline.threads.files import stored_files

DIGEST = "a" * 64
OTHER = "b" * 64


def test_kept_files_are_the_attachments_with_a_digest_and_the_recording() -> None:
    data = {
        "attachments": [
            {"sha256": DIGEST, "filename": "photo.png", "content_type": "image/png"},
            {"type": "image", "media_id": "wamid-1", "mime_type": "image/jpeg"},  # at Meta
            "not a file",
        ],
        "recording": {"sha256": OTHER, "content_type": "audio/mpeg"},
        "recording_url": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
    }
    assert [f["sha256"] for f in stored_files(data)] == [DIGEST, OTHER]
    assert list(stored_files(None)) == []
    assert list(stored_files({"recording": "RE1", "attachments": None})) == []


def test_the_fake_recordings_are_real_audio() -> None:
    mp3 = silent_mp3(2)
    assert mp3[:2] == b"\xff\xfb"  # an MPEG-1 Layer III frame sync, no ID3 tag needed
    assert len(mp3) == 417 * round(2 * 44100 / 1152)
    with wave.open(io.BytesIO(silent_wav(2)), "rb") as file:
        assert file.getnchannels() == 1 and file.getframerate() == 8000
        assert file.getnframes() == 16000
