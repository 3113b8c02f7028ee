"""An IVR menu as configured on a voice endpoint (`settings["ivr"]`), checked and normalised,
and the matching of a caller's input (a DTMF digit or recognised speech) against it.

Pure: no I/O; it imports only the built-in texts (messages.py). Shape (every text is per
language code):

    {
      "languages": [{"digit": "1", "code": "en", "say": "en-US", "label": "For English, press 1.",
                     "keywords": ["english"]}, ...],
      "greeting": {"en": "Welcome to Test Bank.", "pt": "Bem-vindo."},
      "options": [{"digit": "1", "keywords": {"en": ["card"]}, "queue": "Cards",
                   "reason": "cards", "prompt": {"en": "For cards, press 1 or say card."}},
                  {"digit": "2", "prompt": {"en": "For loans, press 2."},
                   "submenu": {"intro": {"en": "Loans."}, "options": [...]}}],
      "back_key": "*",
      "default": {"queue": "General", "reason": "ivr_no_choice"},
      "max_prompts": 3,
      "hold": {"poll_s": 5, "announce_every_s": 30, "per_caller_s": 120, "music_url": null},
      "messages": {"pt": {"invalid": "...", "position_range": "... {position} ... {low} ..."}}
    }

An option either routes the call (queue and reason) or opens a submenu: its own intro and
options, nested up to MAX_DEPTH menus deep. In a submenu the back key returns to the menu
above; in the main menu it says the menu again. Where the caller is rides on the action URL
as the option indexes from the main menu (`Path`, "1.0"), like the step and the tries.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from threadline.channels.voice.messages import DEFAULT_MESSAGES, PLACEHOLDERS, builtin

DIGITS = frozenset("0123456789")
MAX_PROMPTS = 5
MAX_DEPTH = 5  # menus deep, the main menu included
BACK_KEYS = frozenset("*0123456789")  # not "#": Twilio's Gather ends input with it
Path = tuple[int, ...]  # option indexes from the main menu to a submenu; () is the main menu


@dataclass(frozen=True, slots=True)
class Language:
    digit: str
    code: str
    say: str  # the language of <Say> and of speech recognition, e.g. "pt-PT"
    label: str  # "Para português, prima 2." (said in that language)
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Option:
    digit: str | None
    keywords: Mapping[str, tuple[str, ...]]  # language code -> words
    queue: str  # "" for an option that opens a submenu
    reason: str
    prompt: Mapping[str, str]
    submenu: Submenu | None = None

    @property
    def result(self) -> str:
        """What choosing it records: the contact reason, or the submenu it opens."""
        return self.reason if self.submenu is None else f"submenu:{self.digit or self.label}"

    @property
    def label(self) -> str:
        return next((words[0] for words in self.keywords.values() if words), "")


@dataclass(frozen=True, slots=True)
class Submenu:
    intro: Mapping[str, str]  # said before its options, per language
    options: tuple[Option, ...]


@dataclass(frozen=True, slots=True)
class Hold:
    poll_s: int = 5  # how often the hold loop asks whether an agent took the call
    announce_every_s: int = 30
    per_caller_s: int = 120  # the estimated wait per caller ahead (and the caller)
    music_url: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """What the caller did at one step: `result` is a language code, an option's reason,
    or None when the input matched nothing (or there was none)."""

    step: str  # language | menu
    input: str  # dtmf | speech | none
    value: str
    result: str | None

    def as_data(self) -> dict[str, Any]:
        return {"step": self.step, "input": self.input, "value": self.value, "result": self.result}


@dataclass(frozen=True, slots=True)
class Menu:
    languages: tuple[Language, ...]
    greeting: Mapping[str, str]
    options: tuple[Option, ...]
    default_queue: str | None
    default_reason: str
    max_prompts: int = 3
    hold: Hold = field(default_factory=Hold)
    messages: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    back_key: str = "*"
    asks_language: bool = True  # False: the caller's language is known, else the first

    @property
    def default_language(self) -> Language:
        return self.languages[0]

    def language(self, code: str | None) -> Language | None:
        return next((lang for lang in self.languages if lang.code == code), None)

    def needs_language_step(self, known: str | None) -> bool:
        return self.asks_language and len(self.languages) > 1 and self.language(known) is None

    def text(self, key: str, lang: str) -> str:
        """The endpoint's text for `key` in a language, else the built-in one."""
        return self.messages.get(lang, {}).get(key) or builtin(key, lang)

    def greeting_for(self, lang: str) -> str:
        return self.greeting.get(lang) or self.greeting.get(self.default_language.code, "")

    def options_at(self, at: Path) -> tuple[Option, ...] | None:
        """The options of the menu at a path, or None when the path leads nowhere (the
        menu was edited during the call, or the URL is not one of ours)."""
        options = self.options
        for index in at:
            if not 0 <= index < len(options) or options[index].submenu is None:
                return None
            submenu = options[index].submenu
            assert submenu is not None  # checked above; mypy cannot narrow an index
            options = submenu.options
        return options

    def intro_at(self, at: Path) -> Mapping[str, str]:
        """What a submenu says before its options ({} for the main menu)."""
        if not at:
            return {}
        parent = self.options_at(at[:-1]) or ()
        submenu = parent[at[-1]].submenu if at[-1] < len(parent) else None
        return submenu.intro if submenu else {}

    def menu_prompt(self, lang: str, at: Path = ()) -> str:
        """The menu at `at` as said: a submenu's intro, its options' prompts and how to go
        back (not in the main menu)."""
        default = self.default_language.code
        intro = self.intro_at(at)
        said = [intro.get(lang) or intro.get(default, "")]
        said += [o.prompt.get(lang) or o.prompt.get(default, "") for o in self.options_at(at) or ()]
        if at:
            key = self.text("star", lang) if self.back_key == "*" else self.back_key
            said.append(self.text("back", lang).format(key=key))
        return " ".join(text for text in said if text)

    def goes_back(self, digits: str) -> bool:
        return digits == self.back_key

    def choose_language(self, digits: str, speech: str) -> Choice:
        if digits:
            found = next((lang for lang in self.languages if lang.digit == digits), None)
            return Choice("language", "dtmf", digits, found.code if found else None)
        if speech:
            words = _words(speech)
            found = next(
                (lang for lang in self.languages if words & {_fold(k) for k in lang.keywords}),
                None,
            )
            return Choice("language", "speech", speech, found.code if found else None)
        return Choice("language", "none", "", None)

    def choose_option(
        self, lang: str, digits: str, speech: str, at: Path = ()
    ) -> tuple[Choice, Option | None]:
        """The option of the menu at `at` the caller's keys or words pick (None: nothing
        matched, or the path leads nowhere)."""
        options = self.options_at(at) or ()
        found: Option | None = None
        if digits:
            found = next((o for o in options if o.digit == digits), None)
            kind, value = "dtmf", digits
        elif speech:
            words = _words(speech)
            found = next(
                (o for o in options if words & {_fold(k) for k in o.keywords.get(lang, ())}),
                None,
            )
            kind, value = "speech", speech
        else:
            kind, value = "none", ""
        return Choice("menu", kind, value, found.result if found else None), found

    def hints(self, lang: str, at: Path = ()) -> str:
        """Speech recognition hints for the menu at `at` in one language."""
        return ", ".join(k for o in self.options_at(at) or () for k in o.keywords.get(lang, ()))


def parse_path(text: str | None) -> Path:
    """The path an action URL carries ("1.0"); () for none or anything malformed."""
    parts = (text or "").split(".") if text else []
    if len(parts) >= MAX_DEPTH or not all(p.isdigit() and len(p) <= 2 for p in parts):
        return ()
    return tuple(int(p) for p in parts)


def path_text(at: Path) -> str:
    return ".".join(str(i) for i in at)


def _fold(text: str) -> str:
    """Lower case without accents: "Cartão" and "cartao" match."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def _words(speech: str) -> set[str]:
    folded = _fold(speech)
    cleaned = "".join(c if c.isalnum() else " " for c in folded)
    return set(cleaned.split()) | {folded.strip(" .!?")}


def _texts(value: Any, where: str, *, required: bool = False) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping) or (required and not value):
        raise ValueError(f"{where}: an object of texts by language code")
    out = {}
    for code, text in value.items():
        if not isinstance(code, str) or not isinstance(text, str) or len(text) > 1000:
            raise ValueError(f"{where}: texts by language code (at most 1000 characters)")
        out[code] = text
    return out


def _digit(value: Any, where: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or value not in DIGITS:
        raise ValueError(f"{where}: one DTMF digit, 0-9")
    return value


def _words_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(w, str) and w.strip() for w in value):
        raise ValueError(f"{where}: a list of words")
    return tuple(w.strip() for w in value)


def _seconds(value: Any, default: int, where: str, low: int, high: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{where}: a whole number of seconds, {low}-{high}")
    return value


def flow_menu(languages: Sequence[tuple[str, str]]) -> Menu:
    """The menu of a number whose IVR is a flow and that sets no `ivr` of its own: the
    flow's languages (code, <Say> language), the first when the caller's is unknown (no
    language question: the flow speaks the caller's language when it is known), the
    built-in texts and hold settings."""
    known = [Language("", code, say, "") for code, say in languages] or [
        Language("", "en", "en-US", "")
    ]
    return Menu(
        languages=tuple(known),
        greeting={},
        options=(),
        default_queue=None,
        default_reason="self_service",
        asks_language=False,
    )


def parse_menu(raw: Any, *, needs_options: bool = True) -> Menu:
    """The menu from endpoint settings; raises ValueError naming the faulty field.
    `needs_options` False: a number whose IVR is a flow (the flow asks what the caller needs),
    where the menu gives the language question, greeting, hold settings and texts."""
    if not isinstance(raw, Mapping):
        raise ValueError("settings.ivr: an object (languages, greeting, options, ...)")
    raw_languages = raw.get("languages")
    if not isinstance(raw_languages, list) or not raw_languages:
        raise ValueError("settings.ivr.languages: a non-empty list")
    languages = []
    for i, item in enumerate(raw_languages):
        where = f"settings.ivr.languages[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: an object")
        code = item.get("code")
        if not isinstance(code, str) or not 2 <= len(code) <= 8:
            raise ValueError(f"{where}.code: a language code such as 'en' or 'pt'")
        say = item.get("say", code)
        label = item.get("label", "")
        if not isinstance(say, str) or not isinstance(label, str):
            raise ValueError(f"{where}: 'say' and 'label' are texts")
        digit = _digit(item.get("digit"), f"{where}.digit", optional=len(raw_languages) == 1)
        keywords = _words_list(item.get("keywords"), f"{where}.keywords")
        languages.append(Language(digit or "", code, say, label, keywords))
    if len({lang.code for lang in languages}) != len(languages):
        raise ValueError("settings.ivr.languages: each language once")
    if len(languages) > 1 and len({lang.digit for lang in languages}) != len(languages):
        raise ValueError("settings.ivr.languages: each language its own digit")
    codes = {lang.code for lang in languages}

    raw_options = raw.get("options")
    if not needs_options and raw_options is None:
        raw_options = []
    elif not isinstance(raw_options, list) or not raw_options:
        raise ValueError("settings.ivr.options: a non-empty list")
    back_key = raw.get("back_key", "*")
    if not isinstance(back_key, str) or back_key not in BACK_KEYS:
        raise ValueError("settings.ivr.back_key: '*' or one digit, 0-9")
    options = _options(raw_options, "settings.ivr.options", codes, back_key, depth=1)

    default = raw.get("default") or {}
    if not isinstance(default, Mapping):
        raise ValueError("settings.ivr.default: an object {queue, reason}")
    default_queue = default.get("queue")
    if default_queue is not None and (not isinstance(default_queue, str) or not default_queue):
        raise ValueError("settings.ivr.default.queue: the name of a queue")
    default_reason = default.get("reason", "ivr_no_choice")
    if not isinstance(default_reason, str) or not default_reason or len(default_reason) > 100:
        raise ValueError("settings.ivr.default.reason: a contact reason")

    max_prompts = raw.get("max_prompts", 3)
    if not isinstance(max_prompts, int) or isinstance(max_prompts, bool):
        raise ValueError(f"settings.ivr.max_prompts: 1-{MAX_PROMPTS}")
    if not 1 <= max_prompts <= MAX_PROMPTS:
        raise ValueError(f"settings.ivr.max_prompts: 1-{MAX_PROMPTS}")

    raw_hold = raw.get("hold") or {}
    if not isinstance(raw_hold, Mapping):
        raise ValueError("settings.ivr.hold: an object")
    music = raw_hold.get("music_url")
    if music is not None:
        parts = urlsplit(music) if isinstance(music, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("settings.ivr.hold.music_url: an http(s) URL")
    hold = Hold(
        poll_s=_seconds(raw_hold.get("poll_s"), 5, "settings.ivr.hold.poll_s", 1, 60),
        announce_every_s=_seconds(
            raw_hold.get("announce_every_s"), 30, "settings.ivr.hold.announce_every_s", 5, 600
        ),
        per_caller_s=_seconds(
            raw_hold.get("per_caller_s"), 120, "settings.ivr.hold.per_caller_s", 1, 3600
        ),
        music_url=music,
    )

    raw_messages = raw.get("messages") or {}
    if not isinstance(raw_messages, Mapping):
        raise ValueError("settings.ivr.messages: texts by language code")
    messages = {}
    for code, texts in raw_messages.items():
        checked = _texts(texts, f"settings.ivr.messages.{code}")
        if set(checked) - set(DEFAULT_MESSAGES):
            raise ValueError(f"settings.ivr.messages.{code}: keys among {sorted(DEFAULT_MESSAGES)}")
        for key, template in checked.items():
            try:
                template.format(**PLACEHOLDERS)
            except (KeyError, IndexError, ValueError):
                names = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
                raise ValueError(
                    f"settings.ivr.messages.{code}.{key}: placeholders among {names}"
                ) from None
        messages[code] = checked

    return Menu(
        languages=tuple(languages),
        greeting=_texts(raw.get("greeting"), "settings.ivr.greeting", required=True),
        options=tuple(options),
        default_queue=default_queue,
        default_reason=default_reason,
        max_prompts=max_prompts,
        hold=hold,
        messages=messages,
        back_key=back_key,
    )


def _options(
    raw_options: list[Any], where: str, codes: set[str], back_key: str, *, depth: int
) -> tuple[Option, ...]:
    """The options of one menu (`depth` 1: the main one), their submenus checked in turn."""
    options = tuple(
        _option(item, f"{where}[{i}]", codes, back_key, depth) for i, item in enumerate(raw_options)
    )
    digits = [o.digit for o in options if o.digit is not None]
    if len(set(digits)) != len(digits):
        raise ValueError(f"{where}: each digit once")
    if back_key in digits:
        raise ValueError(f"{where}: the key {back_key} goes back; choose another digit")
    unknown = {code for o in options for code in [*o.keywords, *o.prompt]} - codes
    if unknown:
        raise ValueError(f"{where}: languages not offered: {sorted(unknown)}")
    return options


def _option(item: Any, where: str, codes: set[str], back_key: str, depth: int) -> Option:
    if not isinstance(item, Mapping):
        raise ValueError(f"{where}: an object")
    digit = _digit(item.get("digit"), f"{where}.digit", optional=True)
    raw_keywords = item.get("keywords") or {}
    if not isinstance(raw_keywords, Mapping):
        raise ValueError(f"{where}.keywords: lists of words by language code")
    by_language = {
        code: _words_list(words, f"{where}.keywords.{code}") for code, words in raw_keywords.items()
    }
    if digit is None and not any(by_language.values()):
        raise ValueError(f"{where}: a digit, keywords, or both")
    prompt = _texts(item.get("prompt"), f"{where}.prompt")
    if item.get("submenu") is not None:
        if item.get("queue") or item.get("reason"):
            raise ValueError(f"{where}: either a queue and reason or a submenu, not both")
        submenu = _submenu(item["submenu"], f"{where}.submenu", codes, back_key, depth + 1)
        return Option(digit, by_language, "", "", prompt, submenu)
    queue, reason = item.get("queue"), item.get("reason")
    if not isinstance(queue, str) or not queue.strip() or len(queue) > 100:
        raise ValueError(f"{where}.queue: the name of a queue")
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 100:
        raise ValueError(f"{where}.reason: the contact reason, e.g. 'card_blocked'")
    return Option(digit, by_language, queue.strip(), reason.strip(), prompt)


def _submenu(raw: Any, where: str, codes: set[str], back_key: str, depth: int) -> Submenu:
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: menus nest at most {MAX_DEPTH} deep")
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: an object (intro, options)")
    intro = _texts(raw.get("intro"), f"{where}.intro")
    if set(intro) - codes:
        raise ValueError(f"{where}.intro: languages not offered: {sorted(set(intro) - codes)}")
    raw_options = raw.get("options")
    if not isinstance(raw_options, list) or not raw_options:
        raise ValueError(f"{where}.options: a non-empty list")
    return Submenu(intro, _options(raw_options, f"{where}.options", codes, back_key, depth=depth))


def routes(options: Sequence[Option], where: str = "settings.ivr.options") -> list[tuple[str, str]]:
    """Every queue the options send callers to, at any depth, each with the setting that
    names it (`settings.ivr.options[1].submenu.options[0].queue`)."""
    named: list[tuple[str, str]] = []
    for i, option in enumerate(options):
        if option.submenu is None:
            named.append((f"{where}[{i}].queue", option.queue))
        else:
            named += routes(option.submenu.options, f"{where}[{i}].submenu.options")
    return named
