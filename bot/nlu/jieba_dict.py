"""The jieba user dictionary: gazetteer and place names plus domain words, generated, never hand-edited.

`JiebaTokenizer` loads every file in its `dictionary_path` directory, so the generated file lives
alone in `bot/nlu/data/jieba/`. Regenerate with `python -m bot.nlu.jieba_dict`; a test fails when
the committed file is stale.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.nlu.normalise import DATA_DIR, place_words

logger = logging.getLogger(__name__)

USER_DICT_DIR = DATA_DIR / "jieba"
USER_DICT = USER_DICT_DIR / "user_dict.txt"
DOMAIN_WORDS = DATA_DIR / "domain_words.txt"
# high enough that jieba keeps 三眼井社区 or 井盖 whole instead of splitting them
WORD_FREQUENCY = 20000


def domain_words(path: Path = DOMAIN_WORDS) -> list[str]:
    """The committed domain vocabulary, without comments and blanks."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def build_user_dict() -> str:
    """The user dictionary text: one `word frequency` line per place name or domain word, sorted."""
    words = {w for w in place_words() + domain_words() if w and " " not in w}
    return "".join(f"{word} {WORD_FREQUENCY}\n" for word in sorted(words))


def write_user_dict(path: Path = USER_DICT) -> Path:
    """Write the generated dictionary to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_user_dict(), encoding="utf-8")
    logger.info("wrote %s", path)
    return path


if __name__ == "__main__":
    write_user_dict()
