"""The language of a customer's message (i18n/language.py): scripts decide Russian and Greek,
py3langid the Latin-script languages; short, mixed or foreign text is not guessed.

HELD_OUT was written after the thresholds were tuned (on other sentences) and not tuned on:
its accuracy is what the module's docstring and the issue's note report."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from threadline.i18n.language import LANGUAGES, detect, language_of

# Customer messages as people write them to a bank's contact center (our own sentences).
HELD_OUT: dict[str, list[str]] = {
    "en": [
        "Hello, my debit card got stuck in the ATM this morning",
        "Could you tell me why my salary has not arrived yet?",
        "I would like to increase my credit limit",
        "There is a payment on my statement that I don't recognise",
        "my phone was stolen and the banking app is on it",
        "Can I get a copy of last year's statements?",
        "The code you sent me by text never arrived",
        "I moved house, where do I update my details",
        "Good afternoon, I am calling about the mortgage offer",
        "Please cancel the standing order to my landlord",
    ],
    "es": [
        "Buenas tardes, el cajero se ha quedado con mi tarjeta",
        "¿Me pueden decir por qué no ha llegado mi nómina?",
        "Quisiera aumentar el límite de mi tarjeta de crédito",
        "Hay un cargo en mi extracto que no reconozco",
        "me robaron el móvil y tengo la aplicación del banco instalada",
        "¿Puedo pedir una copia de los extractos del año pasado?",
        "Nunca me llegó el código que me enviaron por mensaje",
        "Me he mudado, ¿dónde actualizo mis datos?",
        "Llamo por la oferta de la hipoteca que recibí ayer",
        "Por favor, anulen la transferencia periódica a mi casero",
    ],
    "pt": [
        "Boa tarde, o multibanco ficou com o meu cartão",
        "Podem dizer-me porque é que o meu ordenado ainda não chegou?",
        "Gostaria de aumentar o limite do meu cartão de crédito",
        "Há um movimento no meu extrato que não reconheço",
        "roubaram-me o telemóvel e tenho lá a aplicação do banco",
        "Posso pedir uma cópia dos extratos do ano passado?",
        "O código que me enviaram por mensagem nunca chegou",
        "Mudei de casa, onde é que atualizo os meus dados?",
        "Estou a ligar por causa da proposta de crédito à habitação",
        "Por favor cancelem a transferência mensal para o meu senhorio",
    ],
    "ru": [
        "Добрый день, банкомат не вернул мою карту",
        "Почему до сих пор не пришла зарплата?",
        "Хочу увеличить кредитный лимит",
        "В выписке есть платёж, который я не совершал",
        "Пришлите, пожалуйста, код ещё раз",
    ],
    "el": [
        "Καλησπέρα, το ΑΤΜ κράτησε την κάρτα μου",
        "Γιατί δεν έχει πιστωθεί ακόμα ο μισθός μου;",
        "Θέλω να αυξήσω το όριο της πιστωτικής μου κάρτας",
        "Υπάρχει μια χρέωση στο αντίγραφο κίνησης που δεν αναγνωρίζω",
        "Ο κωδικός που μου στείλατε δεν ήρθε ποτέ",
    ],
}
# Too short or not language at all: never a guess.
NOT_A_LANGUAGE = [
    "ok",
    "Ok.",
    "OK!!",
    "1",
    "2",
    "yes",
    "sí",
    "sim",
    "no",
    "hola",
    "olá",
    "thanks",
    "gracias",
    "obrigada",
    "👍",
    "🙂🙂",
    "???",
    "CANCEL",
    "+351912345678",
    "ana@example.com",
    "https://example.com/a/b?c=d",
    "Maria",
    "Joe Bloggs",
]
# Languages we have no texts for: never taken for Spanish or Portuguese.
FOREIGN = [
    "Buongiorno, il bancomat ha trattenuto la mia carta",
    "Bonsoir, je n'ai toujours pas reçu mon salaire",
    "Guten Tag, ich möchte mein Kreditlimit erhöhen",
    "Goedemiddag, er staat een betaling op mijn rekening die ik niet ken",
    "Bona tarda, el caixer s'ha quedat la meva targeta",
]
HELD_OUT_ACCURACY = 0.9  # measured 1.0 (40 of 40, none wrong); a regression below fails


def test_held_out_sentences_are_detected_and_never_mistaken() -> None:
    right = wrong = total = 0
    mistakes = []
    for language, sentences in HELD_OUT.items():
        for sentence in sentences:
            found = language_of(sentence)
            total += 1
            right += found == language
            if found not in (None, language):
                wrong += 1
                mistakes.append((sentence, language, found))
    assert not mistakes, mistakes  # unsure is allowed (the default is kept); wrong is not
    assert right / total >= HELD_OUT_ACCURACY, f"{right}/{total}"


@pytest.mark.parametrize("language", ["ru", "el"])
def test_cyrillic_and_greek_script_decide_outright(language: str) -> None:
    for sentence in HELD_OUT[language]:
        detection = detect(sentence)
        assert (detection.language, detection.reason) == (language, "script")
    assert language_of({"ru": "Да", "el": "Ναι"}[language]) == language  # even one word


@pytest.mark.parametrize("text", NOT_A_LANGUAGE)
def test_short_or_non_text_keeps_the_default(text: str) -> None:
    assert language_of(text) is None


@pytest.mark.parametrize("text", FOREIGN)
def test_a_language_we_have_no_texts_for_is_not_taken_for_ours(text: str) -> None:
    assert language_of(text) is None


def test_only_the_organisations_languages_are_chosen() -> None:
    spanish = HELD_OUT["es"][0]
    assert language_of(spanish, ["es", "en"]) == "es"
    assert detect(spanish, ["en", "pt"]).reason == "not-served"  # never forced into pt or en
    assert language_of(spanish, ["en", "pt"]) is None
    assert language_of(HELD_OUT["ru"][0], ["en"]) is None
    assert language_of(HELD_OUT["en"][0], ["en", "xx"]) == "en"  # unknown codes are ignored


def test_links_and_addresses_are_not_read_as_words() -> None:
    spanish = "Necesito ayuda con mi tarjeta"
    assert language_of(f"https://example.com/account/settings/language {spanish}") == "es"
    assert language_of("https://my.example.com/some/long/path/english/words") is None


def test_a_mix_of_scripts_is_not_guessed() -> None:
    assert detect("Hello Привет Γεια").language is None


@given(st.text(max_size=200))
def test_any_text_gives_one_of_ours_or_none(text: str) -> None:
    assert language_of(text) in (*LANGUAGES, None)
