"""Rasa input channels. `bot.channels.wechat.WeChatInput` is the WeChat official-account connector."""
