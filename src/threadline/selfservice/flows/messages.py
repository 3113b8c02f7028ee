"""What every flow says without being told, by language (en, pt, es, ru, el), and the words
that mean "let me talk to a person" in each. A flow may override any text per language
(`Flow.messages`); a flow in another language must give them all. Pure data and matching.
"""

from __future__ import annotations

import re
import unicodedata

# The choice id of the "talk to a person" button, on every list of choices the bot shows.
AGENT_CHOICE = "agent"
# The choice id of "something else" when the bot asks the customer to clarify.
OTHER_CHOICE = "other"
YES_CHOICE, NO_CHOICE = "yes", "no"
# The DTMF key that asks for a person at every step of the IVR.
AGENT_DIGIT = "0"

MESSAGE_KEYS = (
    "agent",  # the label of the "talk to a person" button
    "other",  # "something else", beside the clarify choices
    "yes",
    "no",
    "helped",  # asked after an answer from the knowledge base
    "clarify",  # before the choices when the intent is not clear
    "not_understood",  # before a question is asked again
    "handoff",  # said when the conversation goes to a person
    "goodbye",
    "choose",  # how to answer numbered choices (SMS, email): "Reply with a number."
    "press",  # how to answer on the phone: "{n}" is the key, "{label}" the choice
    "options",  # the button that opens a list of choices (WhatsApp)
)
# The texts a channel needs to show choices its own way (PresentChoices.ui)
UI_KEYS = ("agent", "choose", "press", "options")

BUILTIN: dict[str, dict[str, str]] = {
    "en": {
        "agent": "Talk to a person",
        "other": "Something else",
        "yes": "Yes",
        "no": "No",
        "helped": "Did this answer your question?",
        "clarify": "I am not sure I understood. Did you mean:",
        "not_understood": "Sorry, I did not understand.",
        "handoff": "I am passing you to a colleague, who will see everything you told me.",
        "goodbye": "Glad I could help. Goodbye!",
        "choose": "Reply with the number of your choice.",
        "press": "For {label}, press {n}.",
        "options": "Options",
    },
    "pt": {
        "agent": "Falar com uma pessoa",
        "other": "Outro assunto",
        "yes": "Sim",
        "no": "Não",
        "helped": "Isto respondeu à sua pergunta?",
        "clarify": "Não tenho a certeza de ter percebido. Quis dizer:",
        "not_understood": "Desculpe, não percebi.",
        "handoff": "Vou passá-lo a um colega, que verá tudo o que me disse.",
        "goodbye": "Ainda bem que pude ajudar. Adeus!",
        "choose": "Responda com o número da sua escolha.",
        "press": "Para {label}, prima {n}.",
        "options": "Opções",
    },
    "es": {
        "agent": "Hablar con alguien",
        "other": "Otra cosa",
        "yes": "Sí",
        "no": "No",
        "helped": "¿Esto responde a su pregunta?",
        "clarify": "No estoy seguro de haberle entendido. ¿Quería decir:",
        "not_understood": "Lo siento, no le he entendido.",
        "handoff": "Le paso con un compañero, que verá todo lo que me ha dicho.",
        "goodbye": "Me alegro de haberle ayudado. ¡Adiós!",
        "choose": "Responda con el número de su elección.",
        "press": "Para {label}, pulse {n}.",
        "options": "Opciones",
    },
    "ru": {
        "agent": "Связь с оператором",
        "other": "Другое",
        "yes": "Да",
        "no": "Нет",
        "helped": "Это ответ на ваш вопрос?",
        "clarify": "Я не уверен, что понял. Вы имели в виду:",
        "not_understood": "Извините, я не понял.",
        "handoff": "Передаю вас коллеге, он увидит всё, что вы мне сказали.",
        "goodbye": "Рад был помочь. До свидания!",
        "choose": "Ответьте номером выбранного варианта.",
        "press": "{label}: нажмите {n}.",
        "options": "Варианты",
    },
    "el": {
        "agent": "Μιλήστε με άνθρωπο",
        "other": "Κάτι άλλο",
        "yes": "Ναι",
        "no": "Όχι",
        "helped": "Απαντήθηκε η ερώτησή σας;",
        "clarify": "Δεν είμαι σίγουρος ότι κατάλαβα. Εννοούσατε:",
        "not_understood": "Συγγνώμη, δεν κατάλαβα.",
        "handoff": "Σας συνδέω με έναν συνάδελφο, που θα δει όλα όσα μου είπατε.",
        "goodbye": "Χαίρομαι που βοήθησα. Αντίο!",
        "choose": "Απαντήστε με τον αριθμό της επιλογής σας.",
        "press": "Για {label}, πατήστε {n}.",
        "options": "Επιλογές",
    },
}

# What the bot says in outage mode (selfservice/bot/outage.py), by language: the two choices
# it offers after an incident's message, and what it says once the customer asked to be
# told (as the widget's banner says it, web/locales' incident_following). Built in only (a
# flow does not override them): they are about the incident, not the flow. The labels are
# short forms of the widget's, to fit every channel's buttons (20 characters).
OUTAGE_KEYS = ("follow", "continue", "followed", "already_fixed")
OUTAGE: dict[str, dict[str, str]] = {
    "en": {
        "follow": "Tell me when fixed",
        "continue": "Continue",
        "followed": "We will tell you here when it is fixed.",
        "already_fixed": "Good news: it has just been fixed.",
    },
    "pt": {
        "follow": "Avisem-me da solução",
        "continue": "Continuar",
        "followed": "Avisamos aqui quando estiver resolvido.",
        "already_fixed": "Boas notícias: acabou de ser resolvido.",
    },
    "es": {
        "follow": "Avísenme al resolver",
        "continue": "Continuar",
        "followed": "Le avisaremos aquí cuando esté resuelto.",
        "already_fixed": "Buenas noticias: se acaba de resolver.",
    },
    "ru": {
        "follow": "Сообщить о решении",
        "continue": "Продолжить",
        "followed": "Мы сообщим вам здесь, когда всё будет исправлено.",
        "already_fixed": "Хорошие новости: всё уже исправлено.",
    },
    "el": {
        "follow": "Ενημέρωση όταν λυθεί",
        "continue": "Συνέχεια",
        "followed": "Θα σας ενημερώσουμε εδώ όταν διορθωθεί.",
        "already_fixed": "Καλά νέα: μόλις διορθώθηκε.",
    },
}

# "Talk to a person", per language: phrases found anywhere in a message; words and word
# stems (Russian and Greek inflect) only count in a short message ("agent", "оператора"),
# so that "my personal loan" or a long sentence naming a person is not a request for one.
_PHRASES = {
    "en": (
        "talk to a person",
        "speak to a person",
        "talk to someone",
        "speak to someone",
        "talk to a human",
        "speak to a human",
        "real person",
        "talk to an agent",
        "speak to an agent",
        "customer service",
        "customer support",
    ),
    "pt": (
        "falar com uma pessoa",
        "falar com alguem",
        "falar com um humano",
        "falar com um assistente",
        "falar com um operador",
        "pessoa real",
        "apoio ao cliente",
    ),
    "es": (
        "hablar con una persona",
        "hablar con alguien",
        "hablar con un humano",
        "hablar con un agente",
        "hablar con un asesor",
        "persona real",
        "atencion al cliente",
    ),
    "ru": ("живой человек", "с человеком", "с оператором", "службу поддержки"),
    "el": (
        "με ανθρωπο",
        "με εναν ανθρωπο",
        "με ενα ανθρωπο",
        "με εκπροσωπο",
        "με εναν εκπροσωπο",
        "με υπαλληλο",
        "με εναν υπαλληλο",
        "με καποιον",
        "εξυπηρετηση πελατων",
    ),
}
_WORDS = {
    "en": ("agent", "agents", "human", "person", "operator", "representative", "someone"),
    "pt": ("pessoa", "humano", "operador", "assistente", "atendente", "agente"),
    "es": ("persona", "humano", "operador", "agente", "asesor"),
}
_STEMS = {
    "ru": ("оператор", "человек", "специалист", "консультант", "сотрудник", "агент"),
    "el": ("ανθρωπ", "εκπροσωπ", "υπαλληλ", "χειριστ", "συναδελφ"),
}
SHORT_MESSAGE_WORDS = 5
_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """Lower case without accents, for matching what people type: "Não" and "nao", "Όχι"
    and "οχι" are the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


_FOLDED_PHRASES = tuple(fold(p) for phrases in _PHRASES.values() for p in phrases)
_FOLDED_WORDS = frozenset(fold(w) for ws in _WORDS.values() for w in ws)
_FOLDED_STEMS = tuple(fold(s) for ss in _STEMS.values() for s in ss)


def asks_for_person(text: str) -> bool:
    """Whether a customer's message (typed, or a speech result) asks for a person, in any of
    the five languages: the request is honoured whatever language the flow speaks."""
    found = words(text)
    if not found:
        return False
    joined = " " + " ".join(found) + " "
    if any(f" {phrase} " in joined for phrase in _FOLDED_PHRASES):
        return True
    if len(found) > SHORT_MESSAGE_WORDS:
        return False
    return any(w in _FOLDED_WORDS or w.startswith(_FOLDED_STEMS) for w in found)


_YES = frozenset(fold(w) for w in ("yes", "yep", "yeah", "sim", "si", "sí", "да", "ναι", "ok"))
_NO = frozenset(fold(w) for w in ("no", "nope", "não", "nao", "нет", "όχι", "οχι"))


def yes_or_no(text: str) -> str | None:
    """YES_CHOICE or NO_CHOICE when a short reply says so in any language, else None."""
    found = words(text)
    if not found or len(found) > 3:
        return None
    if found[0] in _YES:
        return YES_CHOICE
    if found[0] in _NO:
        return NO_CHOICE
    return None
