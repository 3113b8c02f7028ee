"""What the voice channel says to callers, by language (en, pt, es, ru, el); an endpoint's IVR
may override any text per language (`settings.ivr.messages`). Pure data.

Placeholders: {position} (the caller's place), {minutes} (the simple estimate), {low} and
{high} (the live estimate's range, in whole minutes), {key} (the key that goes back in
a submenu, "star" said for "*"). The wait texts avoid a singular
"minute" after a number: the ranges start at 1 and end at 2 or more.

What the hold loop says about the wait comes only from routing's live estimate, the one the
widget and the app page show (i18n/waits.py): without it the caller hears their place and no
promise (`position_only`). `position` ({minutes}, from `hold.per_caller_s`) is kept so IVR
settings that override it stay valid; nothing says it any more."""

from __future__ import annotations

PLACEHOLDERS = {"position": 1, "minutes": 1, "low": 1, "high": 2, "key": "*"}

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "back": "To go back, press {key}.",
        "star": "star",
        "code_prompt": "If you have a code from our app, enter it now. Otherwise, please hold.",
        "code_invalid": "Sorry, that code is not valid.",
        "code_ok": "Thank you. We have what you told us in the app.",
        "callback_offer": "To be called back at this number without losing your place, press 1.",
        "callback_kept": "Thank you. We will call you back at this number when it is "
        "your turn. Goodbye.",
        "invalid": "Sorry, I did not understand.",
        "position": "You are number {position} in the queue. "
        "The estimated wait is about {minutes} minutes.",
        "position_range": "You are number {position} in the queue. "
        "The wait is about {low} to {high} minutes.",
        "position_under": "You are number {position} in the queue. "
        "The wait is less than {high} minutes.",
        "position_soon": "You are number {position} in the queue. The wait is less than a minute.",
        "position_only": "You are number {position} in the queue.",
        "position_over": "You are number {position} in the queue. "
        "The wait is more than {low} minutes.",
        "connecting": "Connecting you to an agent now.",
        "missed": "Sorry, the agent could not take your call. You keep your place in the queue.",
        "closed": "Sorry, we are closed now. Please call again during our opening hours.",
        "no_queue": "Sorry, nobody can take your call now. Please call again later.",
        "goodbye": "Thank you for calling. Goodbye.",
        "outbound": "Hello, we are calling you back as you asked. "
        "Please hold while we connect you to an agent.",
        "callback_later": "Sorry, no agent can take the call right now. We will call you again.",
    },
    "pt": {
        "back": "Para voltar, prima {key}.",
        "star": "asterisco",
        "code_prompt": "Se tem um código da nossa aplicação, introduza-o agora. "
        "Caso contrário, aguarde.",
        "code_invalid": "Lamentamos, esse código não é válido.",
        "code_ok": "Obrigado. Já temos o que nos disse na aplicação.",
        "callback_offer": "Para lhe ligarmos de volta para este número sem perder o "
        "seu lugar, prima 1.",
        "callback_kept": "Obrigado. Vamos ligar-lhe para este número quando chegar a "
        "sua vez. Adeus.",
        "invalid": "Desculpe, não percebi.",
        "position": "É o número {position} na fila. "
        "O tempo de espera estimado é de cerca de {minutes} minutos.",
        "position_range": "É o número {position} na fila. A espera será de {low} a {high} minutos.",
        "position_under": "É o número {position} na fila. "
        "A espera será de menos de {high} minutos.",
        "position_soon": "É o número {position} na fila. A espera será de menos de um minuto.",
        "position_only": "É o número {position} na fila.",
        "position_over": "É o número {position} na fila. A espera será de mais de {low} minutos.",
        "connecting": "Vamos passar a sua chamada a um assistente.",
        "missed": "Lamentamos, o assistente não conseguiu atender. Mantém o seu lugar na fila.",
        "closed": "Lamentamos, estamos fechados neste momento. "
        "Por favor, ligue novamente no nosso horário de funcionamento.",
        "no_queue": "Lamentamos, de momento ninguém pode atender a sua chamada. "
        "Por favor, ligue mais tarde.",
        "goodbye": "Obrigado pela sua chamada. Adeus.",
        "outbound": "Olá, estamos a devolver a sua chamada, como pediu. "
        "Aguarde um momento enquanto a passamos a um assistente.",
        "callback_later": "Lamentamos, nenhum assistente pode atender agora. "
        "Voltaremos a ligar-lhe.",
    },
    "es": {
        "back": "Para volver, pulse {key}.",
        "star": "asterisco",
        "code_prompt": "Si tiene un código de nuestra aplicación, introdúzcalo ahora. "
        "Si no, espere, por favor.",
        "code_invalid": "Lo sentimos, ese código no es válido.",
        "code_ok": "Gracias. Ya tenemos lo que nos dijo en la aplicación.",
        "callback_offer": "Para que le llamemos a este número sin perder su lugar, pulse 1.",
        "callback_kept": "Gracias. Le llamaremos a este número cuando sea su turno. Adiós.",
        "invalid": "Lo siento, no le he entendido.",
        "position": "Usted es el número {position} en la cola. "
        "El tiempo de espera estimado es de unos {minutes} minutos.",
        "position_range": "Usted es el número {position} en la cola. "
        "La espera será de {low} a {high} minutos.",
        "position_under": "Usted es el número {position} en la cola. "
        "La espera será de menos de {high} minutos.",
        "position_soon": "Usted es el número {position} en la cola. "
        "La espera será de menos de un minuto.",
        "position_only": "Usted es el número {position} en la cola.",
        "position_over": "Usted es el número {position} en la cola. "
        "La espera será de más de {low} minutos.",
        "connecting": "Le pasamos con un agente.",
        "missed": "Lo sentimos, el agente no ha podido atender su llamada. "
        "Conserva su lugar en la cola.",
        "closed": "Lo sentimos, ahora estamos cerrados. "
        "Por favor, vuelva a llamar en nuestro horario de atención.",
        "no_queue": "Lo sentimos, ahora nadie puede atender su llamada. "
        "Por favor, llame más tarde.",
        "goodbye": "Gracias por su llamada. Adiós.",
        "outbound": "Hola, le devolvemos la llamada como solicitó. "
        "Espere un momento mientras le pasamos con un agente.",
        "callback_later": "Lo sentimos, ahora no hay ningún agente disponible. "
        "Le volveremos a llamar.",
    },
    "ru": {
        "back": "Чтобы вернуться назад, нажмите {key}.",
        "star": "звёздочку",
        "code_prompt": "Если у вас есть код из нашего приложения, введите его сейчас. "
        "Иначе, пожалуйста, оставайтесь на линии.",
        "code_invalid": "Извините, этот код недействителен.",
        "code_ok": "Спасибо. У нас есть то, что вы указали в приложении.",
        "callback_offer": "Чтобы мы перезвонили вам на этот номер, сохранив ваше место "
        "в очереди, нажмите 1.",
        "callback_kept": "Спасибо. Мы перезвоним вам на этот номер, когда подойдёт "
        "ваша очередь. До свидания.",
        "invalid": "Извините, я вас не понял.",
        "position": "Ваш номер в очереди: {position}. Примерное время ожидания: {minutes} мин.",
        "position_range": "Ваш номер в очереди: {position}. "
        "Время ожидания: от {low} до {high} минут.",
        "position_under": "Ваш номер в очереди: {position}. Время ожидания: менее {high} минут.",
        "position_soon": "Ваш номер в очереди: {position}. Время ожидания: менее минуты.",
        "position_only": "Ваш номер в очереди: {position}.",
        "position_over": "Ваш номер в очереди: {position}. Время ожидания: более {low} минут.",
        "connecting": "Соединяем вас с оператором.",
        "missed": "Извините, оператор не смог ответить. Ваше место в очереди сохранено.",
        "closed": "Извините, сейчас мы закрыты. Пожалуйста, позвоните в часы работы.",
        "no_queue": "Извините, сейчас никто не может ответить на ваш звонок. "
        "Пожалуйста, перезвоните позже.",
        "goodbye": "Спасибо за звонок. До свидания.",
        "outbound": "Здравствуйте, мы перезваниваем вам, как вы просили. "
        "Пожалуйста, подождите, мы соединяем вас с оператором.",
        "callback_later": "Извините, сейчас нет свободных операторов. Мы перезвоним вам позже.",
    },
    "el": {
        "back": "Για να επιστρέψετε, πατήστε {key}.",
        "star": "αστερίσκο",
        "code_prompt": "Αν έχετε κωδικό από την εφαρμογή μας, πληκτρολογήστε τον τώρα. "
        "Διαφορετικά, παρακαλούμε περιμένετε.",
        "code_invalid": "Λυπούμαστε, ο κωδικός δεν είναι έγκυρος.",
        "code_ok": "Ευχαριστούμε. Έχουμε ό,τι μας είπατε στην εφαρμογή.",
        "callback_offer": "Για να σας καλέσουμε πίσω σε αυτόν τον αριθμό χωρίς να "
        "χάσετε τη σειρά σας, πατήστε 1.",
        "callback_kept": "Ευχαριστούμε. Θα σας καλέσουμε σε αυτόν τον αριθμό όταν "
        "έρθει η σειρά σας. Αντίο.",
        "invalid": "Λυπούμαστε, δεν σας καταλάβαμε.",
        "position": "Είστε νούμερο {position} στην ουρά. "
        "Ο εκτιμώμενος χρόνος αναμονής είναι περίπου {minutes} λεπτά.",
        "position_range": "Είστε νούμερο {position} στην ουρά. "
        "Η αναμονή θα είναι από {low} έως {high} λεπτά.",
        "position_under": "Είστε νούμερο {position} στην ουρά. "
        "Η αναμονή θα είναι λιγότερο από {high} λεπτά.",
        "position_soon": "Είστε νούμερο {position} στην ουρά. "
        "Η αναμονή θα είναι λιγότερο από ένα λεπτό.",
        "position_only": "Είστε νούμερο {position} στην ουρά.",
        "position_over": "Είστε νούμερο {position} στην ουρά. "
        "Η αναμονή θα είναι περισσότερο από {low} λεπτά.",
        "connecting": "Σας συνδέουμε με έναν εκπρόσωπο.",
        "missed": "Λυπούμαστε, ο εκπρόσωπος δεν μπόρεσε να απαντήσει. "
        "Διατηρείτε τη θέση σας στην ουρά.",
        "closed": "Λυπούμαστε, είμαστε κλειστά αυτή τη στιγμή. "
        "Παρακαλούμε καλέστε ξανά στις ώρες λειτουργίας μας.",
        "no_queue": "Λυπούμαστε, κανείς δεν μπορεί να απαντήσει στην κλήση σας τώρα. "
        "Παρακαλούμε καλέστε αργότερα.",
        "goodbye": "Ευχαριστούμε για την κλήση σας. Αντίο.",
        "outbound": "Γεια σας, σας καλούμε πίσω όπως ζητήσατε. "
        "Παρακαλούμε περιμένετε να σας συνδέσουμε με έναν εκπρόσωπο.",
        "callback_later": "Λυπούμαστε, κανένας εκπρόσωπος δεν είναι διαθέσιμος τώρα. "
        "Θα σας καλέσουμε ξανά.",
    },
}
DEFAULT_MESSAGES = MESSAGES["en"]
# The voice <Say> speaks a language in, when an IVR does not name one ("pt" -> "pt-PT")
SAY = {"en": "en-US", "pt": "pt-PT", "es": "es-ES", "ru": "ru-RU", "el": "el-GR"}


def builtin(key: str, lang: str) -> str:
    """The built-in text in a language (`pt-BR` falls back to `pt`), else in English."""
    texts = MESSAGES.get(lang) or MESSAGES.get(lang.split("-")[0]) or DEFAULT_MESSAGES
    return texts.get(key) or DEFAULT_MESSAGES[key]
