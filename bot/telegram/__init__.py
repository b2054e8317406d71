"""The Telegram side of GridSec: grid workers' private chats and departments' group chats (PTB 22).

`app.build_application` wires the handlers; `bot.senders.telegram.TelegramSender` delivers outbox messages;
`cards` renders task cards, `callbacks` encodes button data, `understanding` maps department replies.
"""
