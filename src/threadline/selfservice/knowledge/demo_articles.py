"""The demo bank's help articles in five languages: what `threadline demo` publishes, and
what the help center, the widget's suggestions and the agents' suggestions show at once."""

from __future__ import annotations

from threadline.context import Context
from threadline.selfservice.knowledge import services
from threadline.selfservice.knowledge.schemas import ArticleIn, CategoryIn, TranslationIn

CATEGORIES = {
    "cards": {"en": "Cards", "pt": "Cartões", "es": "Tarjetas", "ru": "Карты", "el": "Κάρτες"},
    "payments": {
        "en": "Transfers and payments",
        "pt": "Transferências e pagamentos",
        "es": "Transferencias y pagos",
        "ru": "Переводы и платежи",
        "el": "Μεταφορές και πληρωμές",
    },
}

# slug -> (category, {language: (title, Markdown body)})
ARTICLES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "change-pin": (
        "cards",
        {
            "en": (
                "How do I change my card PIN?",
                "You can change your PIN in the app at any time:\n\n"
                "1. Open the app and tap **Cards**.\n2. Choose the card, then **Change PIN**.\n"
                "3. Enter your current PIN, then the new one twice.\n\n"
                "The new PIN works at once for payments and at cash machines. "
                "Never tell anyone your PIN: we will never ask for it.",
            ),
            "pt": (
                "Como altero o PIN do meu cartão?",
                "Pode alterar o PIN na app a qualquer momento:\n\n"
                "1. Abra a app e toque em **Cartões**.\n2. Escolha o cartão e **Alterar PIN**.\n"
                "3. Introduza o PIN atual e depois o novo, duas vezes.\n\n"
                "O novo PIN funciona de imediato em pagamentos e caixas automáticas. "
                "Nunca diga o seu PIN a ninguém: nunca o pediremos.",
            ),
            "es": (
                "¿Cómo cambio el PIN de mi tarjeta?",
                "Puedes cambiar el PIN en la app cuando quieras:\n\n"
                "1. Abre la app y pulsa **Tarjetas**.\n2. Elige la tarjeta y **Cambiar PIN**.\n"
                "3. Escribe el PIN actual y luego el nuevo, dos veces.\n\n"
                "El nuevo PIN funciona al instante en pagos y cajeros. "
                "No compartas nunca tu PIN: nunca te lo pediremos.",
            ),
            "ru": (
                "Как сменить ПИН-код карты?",
                "ПИН-код можно сменить в приложении в любое время:\n\n"
                "1. Откройте приложение и нажмите **Карты**.\n"
                "2. Выберите карту и нажмите **Сменить ПИН-код**.\n"
                "3. Введите текущий ПИН-код, затем новый дважды.\n\n"
                "Новый ПИН-код сразу действует для оплаты и в банкоматах. "
                "Никому не сообщайте ПИН-код: мы никогда его не спрашиваем.",
            ),
            "el": (
                "Πώς αλλάζω το PIN της κάρτας μου;",
                "Μπορείτε να αλλάξετε το PIN στην εφαρμογή οποιαδήποτε στιγμή:\n\n"
                "1. Ανοίξτε την εφαρμογή και πατήστε **Κάρτες**.\n"
                "2. Επιλέξτε την κάρτα και **Αλλαγή PIN**.\n"
                "3. Πληκτρολογήστε το τρέχον PIN και μετά το νέο δύο φορές.\n\n"
                "Το νέο PIN ισχύει αμέσως σε πληρωμές και ΑΤΜ. "
                "Μην λέτε ποτέ το PIN σας: δεν θα σας το ζητήσουμε ποτέ.",
            ),
        },
    ),
    "card-not-arrived": (
        "cards",
        {
            "en": (
                "My card has not arrived",
                "New cards arrive by post within **7 working days** of the order. "
                "You can follow the delivery in the app under **Cards > Card status**.\n\n"
                "If it has not arrived after 10 working days, block it in the app and order "
                "a new one for free: the lost one can no longer be used.",
            ),
            "pt": (
                "O meu cartão não chegou",
                "Os cartões novos chegam por correio em **7 dias úteis** após o pedido. "
                "Pode acompanhar o envio na app em **Cartões > Estado do cartão**.\n\n"
                "Se não chegar em 10 dias úteis, bloqueie-o na app e peça outro sem custos: "
                "o cartão extraviado deixa de poder ser usado.",
            ),
            "es": (
                "Mi tarjeta no ha llegado",
                "Las tarjetas nuevas llegan por correo en **7 días hábiles** desde el pedido. "
                "Puedes seguir el envío en la app en **Tarjetas > Estado de la tarjeta**.\n\n"
                "Si no llega en 10 días hábiles, bloquéala en la app y pide otra gratis: "
                "la tarjeta perdida ya no se podrá usar.",
            ),
            "ru": (
                "Карта не пришла",
                "Новые карты приходят по почте в течение **7 рабочих дней** после заказа. "
                "Следить за доставкой можно в приложении: **Карты > Статус карты**.\n\n"
                "Если карта не пришла за 10 рабочих дней, заблокируйте её в приложении и "
                "бесплатно закажите новую: пропавшей картой уже нельзя будет пользоваться.",
            ),
            "el": (
                "Η κάρτα μου δεν έφτασε",
                "Οι νέες κάρτες φτάνουν ταχυδρομικά μέσα σε **7 εργάσιμες ημέρες** από την "
                "παραγγελία. Δείτε την αποστολή στην εφαρμογή: **Κάρτες > Κατάσταση κάρτας**.\n\n"
                "Αν δεν έφτασε σε 10 εργάσιμες ημέρες, μπλοκάρετέ την στην εφαρμογή και "
                "παραγγείλετε νέα δωρεάν.",
            ),
        },
    ),
    "lost-card": (
        "cards",
        {
            "en": (
                "I lost my card or it was stolen",
                "Block the card **at once** in the app: **Cards > Block card**. Blocking is "
                "free and takes effect immediately.\n\n"
                "Then order a replacement in the same screen. If you see payments you did "
                "not make, tell us in the chat: we will dispute them for you.",
            ),
            "pt": (
                "Perdi o cartão ou foi roubado",
                "Bloqueie o cartão **de imediato** na app: **Cartões > Bloquear cartão**. "
                "O bloqueio é gratuito e tem efeito imediato.\n\n"
                "Depois peça um cartão novo no mesmo ecrã. Se vir pagamentos que não fez, "
                "diga-nos no chat: contestamo-los por si.",
            ),
            "es": (
                "He perdido la tarjeta o me la han robado",
                "Bloquea la tarjeta **enseguida** en la app: **Tarjetas > Bloquear tarjeta**. "
                "El bloqueo es gratuito e inmediato.\n\n"
                "Después pide una nueva en la misma pantalla. Si ves pagos que no hiciste, "
                "dínoslo en el chat: los reclamaremos por ti.",
            ),
            "ru": (
                "Карта потеряна или украдена",
                "**Сразу** заблокируйте карту в приложении: **Карты > Заблокировать карту**. "
                "Блокировка бесплатна и действует немедленно.\n\n"
                "Затем закажите новую карту на том же экране. Если видите платежи, которых "
                "не совершали, напишите нам в чат: мы их оспорим.",
            ),
            "el": (
                "Έχασα την κάρτα μου ή μου την έκλεψαν",
                "Μπλοκάρετε την κάρτα **αμέσως** στην εφαρμογή: **Κάρτες > Μπλοκάρισμα**. "
                "Το μπλοκάρισμα είναι δωρεάν και ισχύει αμέσως.\n\n"
                "Μετά παραγγείλετε νέα κάρτα από την ίδια οθόνη. Αν δείτε πληρωμές που δεν "
                "κάνατε, πείτε μας στη συνομιλία.",
            ),
        },
    ),
    "transfer-pending": (
        "payments",
        {
            "en": (
                "Why is my transfer still pending?",
                "Transfers to other banks usually arrive **the next working day**; instant "
                "transfers within seconds. A transfer stays *pending* while:\n\n"
                "- it was made after 16:00 or on a weekend or holiday;\n"
                "- we are checking it for your safety (large or unusual amounts).\n\n"
                "If it is pending for more than two working days, contact us.",
            ),
            "pt": (
                "Porque é que a minha transferência está pendente?",
                "As transferências para outros bancos chegam normalmente **no dia útil "
                "seguinte**; as imediatas em segundos. Uma transferência fica *pendente* "
                "quando:\n\n"
                "- foi feita depois das 16:00, ao fim de semana ou num feriado;\n"
                "- a estamos a verificar pela sua segurança (valores altos ou invulgares).\n\n"
                "Se estiver pendente há mais de dois dias úteis, contacte-nos.",
            ),
            "es": (
                "¿Por qué mi transferencia sigue pendiente?",
                "Las transferencias a otros bancos suelen llegar **el siguiente día hábil**; "
                "las inmediatas en segundos. Una transferencia queda *pendiente* cuando:\n\n"
                "- se hizo después de las 16:00, en fin de semana o en festivo;\n"
                "- la estamos revisando por tu seguridad (importes altos o inusuales).\n\n"
                "Si lleva más de dos días hábiles pendiente, contáctanos.",
            ),
            "ru": (
                "Почему перевод всё ещё в обработке?",
                "Переводы в другие банки обычно приходят **на следующий рабочий день**, "
                "мгновенные — за секунды. Перевод остаётся *в обработке*, если:\n\n"
                "- он сделан после 16:00, в выходной или праздник;\n"
                "- мы проверяем его ради вашей безопасности (крупная или необычная сумма).\n\n"
                "Если перевод в обработке дольше двух рабочих дней, свяжитесь с нами.",
            ),
            "el": (
                "Γιατί η μεταφορά μου είναι ακόμη σε εκκρεμότητα;",
                "Οι μεταφορές σε άλλες τράπεζες φτάνουν συνήθως **την επόμενη εργάσιμη**· οι "
                "άμεσες σε δευτερόλεπτα. Μια μεταφορά μένει *σε εκκρεμότητα* όταν:\n\n"
                "- έγινε μετά τις 16:00, Σαββατοκύριακο ή αργία·\n"
                "- την ελέγχουμε για την ασφάλειά σας (μεγάλα ή ασυνήθιστα ποσά).\n\n"
                "Αν εκκρεμεί πάνω από δύο εργάσιμες, επικοινωνήστε μαζί μας.",
            ),
        },
    ),
    "exchange-rates": (
        "payments",
        {
            "en": (
                "Which exchange rate do you use for card payments abroad?",
                "Card payments and cash withdrawals in another currency use the **card "
                "network's rate** of the day the payment is settled, plus a 1% fee.\n\n"
                "The app shows today's rates under **Payments > Exchange rates**. Paying in "
                "the local currency is usually cheaper than letting the shop convert.",
            ),
            "pt": (
                "Que taxa de câmbio usam nos pagamentos com cartão no estrangeiro?",
                "Os pagamentos e levantamentos noutra moeda usam a **taxa da rede do "
                "cartão** do dia em que o pagamento é liquidado, mais uma comissão de 1%.\n\n"
                "A app mostra as taxas de hoje em **Pagamentos > Taxas de câmbio**. Pagar na "
                "moeda local costuma sair mais barato do que deixar a loja converter.",
            ),
            "es": (
                "¿Qué tipo de cambio aplicáis a los pagos con tarjeta en el extranjero?",
                "Los pagos y retiradas en otra divisa usan el **tipo de la red de la "
                "tarjeta** del día en que se liquida el pago, más una comisión del 1%.\n\n"
                "La app muestra los tipos de hoy en **Pagos > Tipos de cambio**. Pagar en la "
                "moneda local suele salir más barato que dejar que la tienda convierta.",
            ),
            "ru": (
                "По какому курсу списываются платежи картой за границей?",
                "Платежи и снятие наличных в другой валюте идут по **курсу платёжной "
                "системы** на день расчёта плюс комиссия 1%.\n\n"
                "Сегодняшние курсы — в приложении: **Платежи > Курсы валют**. Платить в "
                "местной валюте обычно дешевле, чем соглашаться на конвертацию магазином.",
            ),
            "el": (
                "Ποια ισοτιμία χρησιμοποιείτε για πληρωμές με κάρτα στο εξωτερικό;",
                "Οι πληρωμές και οι αναλήψεις σε άλλο νόμισμα γίνονται με την **ισοτιμία του "
                "δικτύου της κάρτας** της ημέρας εκκαθάρισης, συν προμήθεια 1%.\n\n"
                "Η εφαρμογή δείχνει τις σημερινές ισοτιμίες στο **Πληρωμές > Ισοτιμίες**.",
            ),
        },
    ),
}


async def load_demo_articles(ctx: Context, org_id: str, author_id: str | None) -> None:
    """Publish the demo articles in every language (call once, in the organisation's scope)."""
    categories = {}
    for position, (slug, names) in enumerate(CATEGORIES.items()):
        category = CategoryIn.model_validate({"slug": slug, "names": names, "position": position})
        categories[slug] = await services.do_create_category(ctx, org_id, author_id, category)
    for position, (slug, (category_slug, texts)) in enumerate(ARTICLES.items()):
        article = await services.do_create_article(
            ctx,
            org_id,
            author_id,
            ArticleIn(category_id=categories[category_slug].id, slug=slug, position=position),
        )
        for language, (title, body) in texts.items():
            await services.do_save_translation(
                ctx, org_id, author_id, article.id, language, TranslationIn(title=title, body=body)
            )
        await services.do_publish(ctx, org_id, author_id, article.id)
