"""Who is who in the simulated demo: the bank's numbers, bot, pages and mailbox, with the
fake providers' credentials, and the customers the phone, mail and voice pages play.

`threadline demo` configures the demo bank's endpoints from this (`endpoint_bodies`), and
the simulated pages sign their webhooks with the same secrets, so both sides agree."""

from __future__ import annotations

import json
from typing import Any

from threadline.simulated import meta, smtp_relay, telegram, twilio

PREFIX = "/simulated"
# The bank's number: SMS and voice (a Lisbon landline), and its WhatsApp number's id
BANK_NUMBER = "+351211230100"
MAILBOX = "support@demo.bank"
# The customers the pages play by default (journey 4's Carlos; anyone can be typed in)
CARLOS_NAME = "Carlos Mendes"
CARLOS_PHONE = "+351912000111"
CARLOS_EMAIL = "carlos.mendes@example.pt"
APP_KEY = "demo"  # the installable app page: /app/demo
# Marta (journey 1), signed in on the demo site: its server vouches for her to the widget
DEMO_SITE_WIDGET = "demo"
MARTA_NAME = "Marta Silva"
MARTA_EMAIL = "marta.silva@example.pt"
# Telegram and Messenger know a person by an id of their own: one per name the page sends
TELEGRAM_FIRST_ID = 510_000_001
MESSENGER_FIRST_PSID = 6_100_000_000_000_001


def simulated_base(base_url: str, provider: str) -> str:
    """Where a simulated provider's API answers under Threadline's own URL (`twilio`,
    `meta`)."""
    return f"{base_url.rstrip('/')}{PREFIX}/{provider}"


def telegram_base(port: int) -> str:
    """Where the simulated Telegram Bot API answers: its own port (a root URL, as the
    real one is)."""
    return f"http://127.0.0.1:{port}"


def endpoint_bodies(
    base_url: str,
    relay_port: int,
    telegram_port: int,
    queues: dict[str, str],
    bot: dict[str, str] | None,
) -> list[dict[str, Any]]:
    """Each simulated endpoint of the demo bank as an admin posts it to /api/v1/endpoints:
    outbound through the simulated providers, into the queue named; `bot` answers first on
    the channels that draw buttons (WhatsApp, Telegram, Messenger)."""
    general = queues["General"]
    twilio_settings = {
        "account_sid": twilio.ACCOUNT_SID,
        "api_base": simulated_base(base_url, "twilio"),
    }
    graph_secret = json.dumps({"app_secret": meta.APP_SECRET, "access_token": meta.ACCESS_TOKEN})
    graph_settings: dict[str, Any] = {
        "verify_token": meta.VERIFY_TOKEN,
        "api_base": simulated_base(base_url, "meta"),
    }
    with_bot: dict[str, Any] = {"bot": bot} if bot else {}
    return [
        {
            "channel": "sms",
            "key": BANK_NUMBER,
            "name": "Demo Bank SMS (simulated)",
            "queue_id": general,
            "secret": twilio.AUTH_TOKEN,
            "settings": twilio_settings,
        },
        {
            "channel": "voice",
            "key": BANK_NUMBER,
            "name": "Demo Bank phone line (simulated)",
            "queue_id": general,
            "secret": twilio.AUTH_TOKEN,
            # in a conference: the agent can hold the caller, supervisors coach the call
            "settings": {**twilio_settings, "ivr": demo_ivr(base_url), "conference": True},
        },
        {
            "channel": "whatsapp",
            "key": meta.PHONE_NUMBER_ID,
            "name": "Demo Bank WhatsApp (simulated)",
            "queue_id": general,
            "secret": graph_secret,
            "settings": {**graph_settings, **with_bot},
        },
        {
            "channel": "messenger",
            "key": meta.PAGE_ID,
            "name": "Demo Bank Messenger (simulated)",
            "queue_id": general,
            "secret": graph_secret,
            "settings": {**graph_settings, **with_bot},
        },
        {
            "channel": "telegram",
            "key": telegram.BOT_USERNAME,
            "name": "Demo Bank Telegram (simulated)",
            "queue_id": general,
            "secret": telegram.BOT_TOKEN,
            "settings": {"api_base": telegram_base(telegram_port), **with_bot},
        },
        {
            "channel": "app",
            "key": APP_KEY,
            "name": "Demo Bank app",
            "queue_id": general,
            "secret": None,
            "settings": {"voice_number": BANK_NUMBER, "color": "#0b5cad", "reasons": APP_REASONS},
        },
        {
            "channel": "email",
            "key": MAILBOX,
            "name": "Demo Bank support mailbox",
            "queue_id": general,
            "secret": smtp_relay.PASSWORD,
            "settings": {
                "from_name": "Demo Bank",
                "smtp": {
                    "host": "127.0.0.1",
                    "port": relay_port,
                    "username": smtp_relay.USERNAME,
                    "starttls": False,
                },
            },
        },
    ]


def demo_ivr(base_url: str) -> dict[str, Any]:
    """The phone line's menu, its hold music served by the simulated pages."""
    hold = {**DEMO_IVR["hold"], "music_url": f"{base_url.rstrip('/')}{PREFIX}/hold-music"}
    return {**DEMO_IVR, "hold": hold}


def _t(en: str, pt: str, es: str, ru: str, el: str) -> dict[str, str]:
    return {"en": en, "pt": pt, "es": es, "ru": ru, "el": el}


# The app's reasons (journey 2: Dmitri's lost card goes to a tier-2 card agent, his two
# answers with it)
APP_REASONS: list[dict[str, Any]] = [
    {
        "code": "lost_or_stolen_card",
        "label": _t(
            "Lost card",
            "Cartão perdido",
            "Tarjeta perdida",
            "Потерянная карта",
            "Χαμένη κάρτα",
        ),
        "queue": "Cards",
        "tier": 2,
        "questions": [
            {
                "id": "card",
                "label": _t(
                    "Which card?",
                    "Que cartão?",
                    "¿Qué tarjeta?",
                    "Какая карта?",
                    "Ποια κάρτα;",
                ),
                "options": [
                    {
                        "value": "debit",
                        "label": _t("Debit", "Débito", "Débito", "Дебетовая", "Χρεωστική"),
                    },
                    {
                        "value": "credit",
                        "label": _t("Credit", "Crédito", "Crédito", "Кредитная", "Πιστωτική"),
                    },
                ],
            },
            {
                "id": "blocked",
                "label": _t(
                    "Did you block it in the app?",
                    "Já o bloqueou na app?",
                    "¿La ha bloqueado en la app?",
                    "Вы заблокировали её в приложении?",
                    "Την έχετε μπλοκάρει στην εφαρμογή;",
                ),
                "options": [
                    {"value": "yes", "label": _t("Yes", "Sim", "Sí", "Да", "Ναι")},
                    {"value": "no", "label": _t("No", "Não", "No", "Нет", "Όχι")},
                ],
            },
        ],
    },
    {
        "code": "card_arrival",
        "label": _t(
            "My card has not arrived",
            "O meu cartão não chegou",
            "Mi tarjeta no ha llegado",
            "Карта не пришла",
            "Η κάρτα μου δεν έφτασε",
        ),
        "queue": "Cards",
    },
    {
        "code": "loans",
        "label": _t("Loans", "Crédito", "Préstamos", "Кредиты", "Δάνεια"),
        "queue": "Loans",
    },
    {
        "code": "other",
        "label": _t("Something else", "Outro assunto", "Otra cosa", "Другое", "Κάτι άλλο"),
        "queue": "General",
    },
]

# The phone line's menu: language, then cards or anything else; hold announces the wait
# and offers a callback (the queues' callback policy, set by the demo).
DEMO_IVR: dict[str, Any] = {
    "languages": [
        {"digit": "1", "code": "en", "say": "en-GB", "label": "For English, press 1."},
        {"digit": "2", "code": "pt", "say": "pt-PT", "label": "Para português, prima 2."},
        {"digit": "3", "code": "es", "say": "es-ES", "label": "Para español, pulse 3."},
        {"digit": "4", "code": "ru", "say": "ru-RU", "label": "Для русского нажмите 4."},
        {"digit": "5", "code": "el", "say": "el-GR", "label": "Για ελληνικά, πατήστε 5."},
    ],
    "greeting": _t(
        "Welcome to Demo Bank.",
        "Bem-vindo ao Demo Bank.",
        "Bienvenido a Demo Bank.",
        "Добро пожаловать в Demo Bank.",
        "Καλώς ήρθατε στην Demo Bank.",
    ),
    "options": [
        {
            "digit": "1",
            "keywords": {
                "en": ["card", "cards"],
                "pt": ["cartão", "cartões"],
                "es": ["tarjeta"],
                "ru": ["карта"],
                "el": ["κάρτα"],
            },
            "queue": "Cards",
            "reason": "card_arrival",
            "prompt": _t(
                "For cards, press 1.",
                "Para cartões, prima 1.",
                "Para tarjetas, pulse 1.",
                "По вопросам карт нажмите 1.",
                "Για κάρτες, πατήστε 1.",
            ),
        },
        {
            "digit": "2",
            "keywords": {"en": ["loan", "loans"], "pt": ["crédito", "empréstimo"]},
            "queue": "Loans",
            "reason": "loans",
            "prompt": _t(
                "For loans, press 2.",
                "Para crédito, prima 2.",
                "Para préstamos, pulse 2.",
                "По вопросам кредитов нажмите 2.",
                "Για δάνεια, πατήστε 2.",
            ),
        },
        {
            "digit": "3",
            "queue": "General",
            "reason": "other",
            "prompt": _t(
                "For anything else, press 3.",
                "Para outros assuntos, prima 3.",
                "Para cualquier otra cosa, pulse 3.",
                "По другим вопросам нажмите 3.",
                "Για οτιδήποτε άλλο, πατήστε 3.",
            ),
        },
    ],
    "default": {"queue": "General", "reason": "ivr_no_choice"},
    "max_prompts": 2,
    "hold": {"poll_s": 2, "announce_every_s": 20, "per_caller_s": 300},
}
