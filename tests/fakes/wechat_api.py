"""The fake WeChat API now lives in `bot.localmode` (local mode runs it too); tests import it from here."""

from bot.localmode.wechat_api import (
    Call,
    FakeWeChatAPI,
    FakeWeChatState,
    main,
    running_fake_wechat,
)

__all__ = ["Call", "FakeWeChatAPI", "FakeWeChatState", "main", "running_fake_wechat"]

if __name__ == "__main__":
    main()
