"""The demo bank's flow (shared/JOURNEYS.md, journey 5): greet, find what the customer needs
(BANKING77 intent names), answer PIN and activation questions from the knowledge base, ask a
customer whose card has not arrived for its last four digits and hand them to the Cards
queue, and hand anything unclear, after clarifying, to a person. Plain data, in the five
languages the demo speaks."""

from __future__ import annotations

from typing import Any

from threadline.selfservice.flows.schemas import Flow, load_flow


def _t(en: str, pt: str, es: str, ru: str, el: str) -> dict[str, str]:
    return {"en": en, "pt": pt, "es": es, "ru": ru, "el": el}


DEMO_BANK_FLOW: dict[str, Any] = {
    "id": "demo-bank",
    "version": 1,
    "name": "Demo Bank assistant",
    "languages": ["en", "pt", "es", "ru", "el"],
    "start": "greet",
    "steps": [
        {
            "id": "greet",
            "kind": "say",
            "text": _t(
                "Hello, I am Demo Bank's virtual assistant. You can ask for a person at any time.",
                "Olá, sou o assistente virtual do Demo Bank. Pode pedir para falar com uma "
                "pessoa a qualquer momento.",
                "Hola, soy el asistente virtual de Demo Bank. Puede pedir hablar con una "
                "persona en cualquier momento.",
                "Здравствуйте, я виртуальный помощник Demo Bank. Вы можете в любой момент "
                "попросить соединить вас с человеком.",
                "Γεια σας, είμαι ο ψηφιακός βοηθός της Demo Bank. Μπορείτε να ζητήσετε να "
                "μιλήσετε με έναν άνθρωπο οποιαδήποτε στιγμή.",
            ),
            "next": "need",
        },
        {
            "id": "need",
            "kind": "branch",
            "prompt": _t(
                "How can I help you today?",
                "Em que posso ajudar?",
                "¿En qué puedo ayudarle?",
                "Чем я могу помочь?",
                "Πώς μπορώ να σας βοηθήσω;",
            ),
            "threshold": 0.6,
            "intents": [
                {
                    "intent": "change_pin",
                    "goto": "answer",
                    "label": _t(
                        "Change my PIN",
                        "Alterar o PIN",
                        "Cambiar el PIN",
                        "Сменить PIN-код",
                        "Αλλαγή PIN",
                    ),
                },
                {
                    "intent": "activate_my_card",
                    "goto": "answer",
                    "label": _t(
                        "Activate my card",
                        "Ativar o cartão",
                        "Activar mi tarjeta",
                        "Активировать карту",
                        "Ενεργοποίηση κάρτας",
                    ),
                },
                {
                    "intent": "card_arrival",
                    "goto": "card_last4",
                    "label": _t(
                        "My card has not arrived",
                        "O meu cartão não chegou",
                        "Mi tarjeta no ha llegado",
                        "Карта не пришла",
                        "Η κάρτα μου δεν έφτασε",
                    ),
                },
                {
                    "intent": "card_delivery_estimate",
                    "goto": "card_last4",
                    "label": _t(
                        "When will my card arrive?",
                        "Quando chega o meu cartão?",
                        "¿Cuándo llegará mi tarjeta?",
                        "Когда придёт карта?",
                        "Πότε θα φτάσει η κάρτα μου;",
                    ),
                },
                {
                    "intent": "lost_or_stolen_card",
                    "goto": "lost_card",
                    "label": _t(
                        "Lost or stolen card",
                        "Cartão perdido ou roubado",
                        "Tarjeta perdida o robada",
                        "Карта утеряна или украдена",
                        "Χαμένη ή κλεμμένη κάρτα",
                    ),
                },
            ],
            "otherwise": "to_person",
        },
        {
            "id": "answer",
            "kind": "answer",
            "query": "{message}",
            "helped": "thanks",
            "not_helped": "to_person",
        },
        {
            "id": "card_last4",
            "kind": "ask",
            "slot": "card_last4",
            "type": "account_number",
            "pattern": "[0-9]{4}",
            "prompt": _t(
                "What are the last 4 digits of your card?",
                "Quais são os últimos 4 dígitos do seu cartão?",
                "¿Cuáles son los últimos 4 dígitos de su tarjeta?",
                "Назовите последние 4 цифры вашей карты.",
                "Ποια είναι τα τελευταία 4 ψηφία της κάρτας σας;",
            ),
            "reprompt": _t(
                "Please give the 4 digits at the end of the card number, for example 1234.",
                "Indique os 4 dígitos no fim do número do cartão, por exemplo 1234.",
                "Indique los 4 dígitos al final del número de la tarjeta, por ejemplo 1234.",
                "Укажите 4 последние цифры номера карты, например 1234.",
                "Δώστε τα 4 τελευταία ψηφία του αριθμού της κάρτας, για παράδειγμα 1234.",
            ),
            "next": "cards",
            "on_fail": "cards",
        },
        {
            "id": "cards",
            "kind": "route",
            "queue": "Cards",
            "skills": ["cards"],
            "next": "to_cards",
        },
        {
            "id": "to_cards",
            "kind": "handoff",
            "reason": "card_arrival",
            "text": _t(
                "Thank you. A card specialist will take it from here.",
                "Obrigado. Um especialista em cartões vai continuar a partir daqui.",
                "Gracias. Un especialista en tarjetas le atenderá a continuación.",
                "Спасибо. Дальше вам поможет специалист по картам.",
                "Ευχαριστούμε. Ένας ειδικός για κάρτες θα σας εξυπηρετήσει.",
            ),
        },
        {
            "id": "lost_card",
            "kind": "handoff",
            "reason": "lost_or_stolen_card",
            "queue": "Cards",
            "skills": ["cards"],
            "priority": 8,
        },
        {
            "id": "to_person",
            "kind": "handoff",
            "reason": "self_service",
            "queue": "General",
            "skills": ["general"],
        },
        {
            "id": "thanks",
            "kind": "end",
            "deflected": True,
            "text": _t(
                "Glad I could help. Goodbye!",
                "Ainda bem que pude ajudar. Adeus!",
                "Me alegro de haberle ayudado. ¡Adiós!",
                "Рад был помочь. До свидания!",
                "Χαίρομαι που βοήθησα. Αντίο!",
            ),
        },
    ],
}


def demo_flow() -> Flow:
    """The demo bank's flow, validated."""
    return load_flow(DEMO_BANK_FLOW)
