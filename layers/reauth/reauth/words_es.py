"""Spanish (Latin American / US Hispanic): every key of words_en.py, said the way a US fintech
says it to its customers ("tú", not "usted"; "enlace", "iniciar sesión", "app").

Written, not translated word for word. The SMS forms keep to GSM-7 (no á, í, ó, ú: "Hazlo",
"reconecta"), so they still fit one 160-character segment. Dates read "martes 17 de marzo de
2026, 10:00 a. m. (EDT)"; weekdays and months are lower case, as Spanish writes them.
"""

from __future__ import annotations

WORDS: dict[str, str] = {
    # ---- shared ----------------------------------------------------------------------------
    "platform.default": "tu app",
    # ---- the start page --------------------------------------------------------------------
    "start.title": "Vuelve a conectar tu banco",
    "start.text": (
        "{Platform} necesita que vuelvas a iniciar sesión en tu banco para que tu cuenta siga "
        "conectada. {where} Solo toma un minuto."
    ),
    "start.where.redirect": "Lo harás en la página de tu banco.",
    "start.where.token": "Lo harás en una ventana segura de Plaid.",
    "start.button": "Continuar a tu banco",
    # ---- the start page inside another app (inapp.py) --------------------------------------
    "inapp.title": "Abre esta página en tu navegador",
    "inapp.text": (
        "Parece que abriste este enlace dentro de otra app. Muchos bancos no te dejan iniciar "
        "sesión desde el navegador integrado de una app, así que es mejor seguir en el "
        "navegador de tu celular."
    ),
    "inapp.how": (
        "Toca el menú de esta app (⋯ o ⋮) y elige “Abrir en el navegador”. O copia el "
        "enlace y pégalo en tu navegador."
    ),
    "inapp.link_label": "Tu enlace",
    "inapp.copy": "Copiar enlace",
    "inapp.copied": "Enlace copiado. Ahora abre tu navegador y pégalo en la barra de direcciones.",
    "inapp.selected": "El enlace está seleccionado. Cópialo y pégalo en tu navegador.",
    "inapp.open_browser": "Abrir en mi navegador",
    "inapp.continue": "Continuar aquí de todos modos",
    # ---- the hand-offs ---------------------------------------------------------------------
    "to_bank.title": "Te estamos llevando a tu banco…",
    "to_bank.text": (
        "Se está abriendo la página de inicio de sesión de tu banco. Si no pasa nada, toca "
        "Continuar."
    ),
    "to_bank.button": "Continuar",
    "plaid.title": "Inicia sesión en tu banco",
    "plaid.text": (
        "Sobre esta página se abre una ventana segura de Plaid para que inicies sesión en tu "
        "banco y tu cuenta siga conectada a {platform}. No cierres esta página hasta que "
        "termines."
    ),
    "plaid.opening": "Abriendo la ventana segura…",
    "plaid.noscript": "Este paso necesita JavaScript. Actívalo y vuelve a cargar esta página.",
    "plaid.reopen": "Abrir otra vez la ventana segura",
    "plaid.retry": "Intentar de nuevo",
    "plaid.finishing": "Terminando…",
    "plaid.unreachable": (
        "No pudimos comunicarnos con nuestro servicio para terminar. Revisa tu conexión y toca "
        "Intentar de nuevo, o vuelve a cargar esta página."
    ),
    "plaid.not_loaded": (
        "No se pudo cargar la ventana segura. Revisa tu conexión y vuelve a cargar esta página."
    ),
    "plaid.open": "La ventana segura está abierta. Si no la ves, toca el botón de abajo.",
    "plaid.not_opened": "No se pudo abrir la ventana segura. Vuelve a cargar esta página.",
    # ---- results ---------------------------------------------------------------------------
    "result.reauthorized.title": "Tu banco está conectado de nuevo",
    "result.reauthorized.text": (
        "La conexión de tu banco con {platform} ya funciona otra vez. Puedes cerrar esta ventana."
    ),
    "result.reauthorized_elsewhere.title": "Tu banco ya está conectado",
    "result.reauthorized_elsewhere.text": (
        "La conexión de tu banco con {platform} ya funciona otra vez, así que no tienes que "
        "hacer nada más. Puedes cerrar esta ventana y volver a {platform}."
    ),
    "result.already_done.title": "Ya está listo",
    "result.already_done.text": (
        "La conexión de tu banco con {platform} ya se había renovado. No tienes que hacer nada "
        "más: puedes cerrar esta ventana."
    ),
    "result.verifying.title": "Ya casi terminamos",
    "result.verifying.text": (
        "Estamos confirmando con tu banco que iniciaste sesión. Puedes cerrar esta ventana: le "
        "avisaremos a {platform} cuando esté listo."
    ),
    "verifying.checking": "Confirmando con tu banco…",
    "verifying.longer": (
        "Esto está tardando más de lo normal. No tienes que hacer nada más: le avisaremos a "
        "{platform} en cuanto tu banco lo confirme. Puedes cerrar esta ventana o volver a "
        "revisar en unos minutos."
    ),
    "verifying.check_again": "Volver a revisar",
    "result.unverified.title": "Tu banco no confirmó el inicio de sesión",
    "result.unverified.text": (
        "Tu banco no confirmó que iniciaste sesión. Por favor, inténtalo de nuevo."
    ),
    "result.failed.title": "No se pudo volver a conectar tu banco",
    "result.failed.retry": "Por favor, inténtalo de nuevo.",
    "result.closed.title": "Este enlace ya venció",
    "result.closed.text": (
        "No se pudo confirmar tu inicio de sesión antes de que venciera este enlace. Si "
        "{platform} todavía te pide que vuelvas a conectar tu banco, pídele un enlace nuevo."
    ),
    "result.cancelled.title": "Esta solicitud se canceló",
    "result.cancelled.text": (
        "{Platform} canceló esta solicitud para volver a conectar tu banco, así que este enlace "
        "ya no funciona. Si {platform} todavía te pide que vuelvas a conectar tu banco, pídele "
        "un enlace nuevo."
    ),
    "result.start_over": "Para intentarlo de nuevo, vuelve a empezar desde {platform}.",
    "result.try_again": "Intentar de nuevo",
    "result.back": "Volver a {platform}",
    "reason.USER_CANCELLED": "Cerraste el inicio de sesión de tu banco antes de terminar.",
    "reason.TEMPORARY_ERROR": "No pudimos comunicarnos con tu banco en este momento.",
    "reason.AUTHENTICATION_ERROR": "Tu banco no pudo verificar tu inicio de sesión.",
    "reason.other": "Algo salió mal al conectar con tu banco.",
    # ---- a closed link, and "Send me a new link" -------------------------------------------
    "closed.expired.title": "Este enlace ya venció",
    "closed.expired.text": "Este enlace para volver a conectar tu banco ya venció.",
    "closed.cancelled.title": "Esta solicitud se canceló",
    "closed.cancelled.text": (
        "{Platform} canceló esta solicitud para volver a conectar tu banco, así que este enlace "
        "ya no funciona."
    ),
    "closed.ask": (
        "Si todavía necesitas volver a conectar tu banco, pide un enlace nuevo: le avisaremos a "
        "{platform}."
    ),
    "closed.button": "Envíame un enlace nuevo",
    "requested.title": "Ya pedimos un enlace nuevo",
    "requested.told": (
        "Le avisamos a {platform} que quieres un enlace nuevo para volver a conectar tu banco."
    ),
    "requested.already": "Ya pediste un enlace nuevo hoy y le avisamos a {platform}.",
    "requested.on_its_way": "Tu enlace nuevo ya va en camino.",
    "requested.close": "Puedes cerrar esta ventana.",
    # ---- errors ----------------------------------------------------------------------------
    "error.refused.title": "Este enlace no se puede usar",
    "error.refused.text": "Vuelve a empezar desde {platform}.",
    "error.closed.title": "Este enlace ya venció",
    "error.closed.text": "Pídele a {platform} un enlace nuevo.",
    "error.too_many_attempts.title": "Demasiados intentos",
    "error.too_many_attempts.text": (
        "Este enlace se usó demasiadas veces, así que ya no funciona. Para volver a conectar tu "
        "banco, pídele a {platform} un enlace nuevo."
    ),
    "error.unavailable.title": "No disponible por ahora",
    "error.unavailable.text": (
        "No pudimos completar este paso en este momento. Vuelve a cargar esta página en un rato."
    ),
    # ---- the email -------------------------------------------------------------------------
    "email.subject": "{Platform}: vuelve a conectar tu cuenta bancaria",
    "email.subject.reminder": "Recordatorio de {platform}: vuelve a conectar tu cuenta bancaria",
    "email.greeting": "Hola, {name}:",
    "email.greeting.anonymous": "Hola:",
    "email.what": (
        "{Platform} ya no puede acceder a tu cuenta bancaria: tu banco necesita que vuelvas a "
        "iniciar sesión para renovar la conexión. Mientras no lo hagas, es posible que los pagos "
        "con esta cuenta se detengan."
    ),
    "email.action": "Volver a conectar mi banco",
    "email.deadline": "Este enlace seguro funciona hasta el {deadline}.",
    "email.ignore": (
        "Solo toma un minuto en la página de inicio de sesión de tu propio banco; {platform} "
        "nunca ve la contraseña de tu banco. Si no esperabas este mensaje, puedes ignorarlo."
    ),
    # ---- the SMS (GSM-7 only: no á, í, ó, ú) -----------------------------------------------
    "sms.full": (
        "{Platform}: tu banco te pide que vuelvas a conectar tu cuenta. Hazlo antes del "
        "{deadline}: {link}"
    ),
    "sms.short": "{Platform}: reconecta tu banco antes del {deadline}: {link}",
    "sms.shortest": "{Platform}: reconecta tu banco: {link}",
    # ---- dates -----------------------------------------------------------------------------
    "date.long": "{weekday} {day} de {month} de {year}, {clock} ({zone})",
    "date.short": "{day} {month_short}",
    "date.clock": "{hour}:{minute} {half}",
    "date.am": "a. m.",
    "date.pm": "p. m.",
    "months": (
        "enero,febrero,marzo,abril,mayo,junio,julio,agosto,septiembre,octubre,noviembre,diciembre"
    ),
    "months.short": "ene,feb,mar,abr,may,jun,jul,ago,sept,oct,nov,dic",
    "weekdays": "lunes,martes,miércoles,jueves,viernes,sábado,domingo",
}
