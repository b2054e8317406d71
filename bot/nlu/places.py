"""The place extractor's pure core: place mentions in a resident's (normalised) Chinese text.

A blank spaCy `zh` pipeline with the jieba segmenter and an EntityRuler generated from the place
lexicon (`routing.lexicon`: gazetteer, places table, generated and colloquial aliases). Every
lexicon surface is added to jieba's dictionary first, so 三眼井 or 起义路 stay one token inside a
sentence; a character-level pass then catches the rare name jieba still splits. Patterns on the
raw text add what a gazetteer cannot hold: the house number after a road (中山五路123号,
起义路100号之一), building and unit (3号楼2单元, 5栋), and vicinity words (三眼井那边).

The Rasa GraphComponent that wraps `extract_places` lives with the NLU pipeline.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any, cast

import cn2an
import spacy
from spacy.language import Language
from spacy.pipeline import EntityRuler

from routing.lexicon import LexiconEntry, load_lexicon
from routing.types import PlaceMention

logger = logging.getLogger(__name__)

JIEBA_FREQUENCY = 20000  # same weight as the NLU user dictionary: keeps a place name one token
FALLBACK_MIN_LEN = 3  # the character-level pass skips 2-character names: too many false hits
_NUM = r"(\d+|[零〇一二两三四五六七八九十百千]+)"
# 123号, 100号之一, 100-2号 / 100号-2 (sub-numbers are kept as `detail`); not 3号楼 or 5号线
_HOUSE_NUMBER = re.compile(
    rf"^\s*{_NUM}(?:\s*([-—]\s*\d+))?\s*号(?![楼院线])(之[一二三四五六七八九十\d]+|[-—]\d+)?"
)
_BUILDING = re.compile(
    rf"{_NUM}\s*(号楼|栋|幢|座)(?:\s*{_NUM}\s*单元)?(?:\s*{_NUM}\s*(?:室|房|号房))?|{_NUM}\s*单元"
)
_VICINITY = re.compile(r"^(那边|这边|那里|这里|那儿|附近|一带|周边|周围|旁边|对面|门口|路口|嗰边|呢度|嗰度)")


def _to_int(s: str | None) -> int | None:
    if not s:
        return None
    if s.isdigit():
        return int(s)
    try:
        return int(cn2an.cn2an(s, "smart"))
    except ValueError:
        return None


@lru_cache(maxsize=1)
def _pipeline() -> Language:
    """The blank zh pipeline with jieba (place words added) and the generated EntityRuler."""
    lexicon = load_lexicon()
    nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
    jieba = cast(Any, nlp.tokenizer).jieba_seg  # the jieba module the zh tokenizer segments with
    for surface in lexicon:
        jieba.add_word(surface, freq=JIEBA_FREQUENCY)
    ruler = cast(EntityRuler, nlp.add_pipe("entity_ruler", config={"validate": False}))
    ruler.add_patterns(
        [{"label": e.kind, "pattern": surface, "id": surface} for surface, e in sorted(lexicon.items())]
    )
    return nlp


@lru_cache(maxsize=1)
def _fallback_regex() -> re.Pattern[str]:
    words = sorted((w for w in load_lexicon() if len(w) >= FALLBACK_MIN_LEN), key=lambda w: (-len(w), w))
    return re.compile("|".join(re.escape(w) for w in words))


def place_lexicon() -> list[str]:
    """Every place surface form (≥ 2 characters), sorted: for the JiebaTokenizer user dictionary."""
    return sorted(load_lexicon())


def _lexicon_spans(text: str) -> list[tuple[int, int, LexiconEntry]]:
    """(start, end, entry) of every lexicon name: EntityRuler first, then the character-level pass."""
    lexicon = load_lexicon()
    doc = _pipeline()(text)
    spans = [
        (ent.start_char, ent.end_char, lexicon[ent.ent_id_]) for ent in doc.ents if ent.ent_id_ in lexicon
    ]
    taken = [(s, e) for s, e, _ in spans]
    for m in _fallback_regex().finditer(text):
        if all(m.end() <= s or m.start() >= e for s, e in taken):
            spans.append((m.start(), m.end(), lexicon[m.group()]))
            taken.append((m.start(), m.end()))
    return sorted(spans, key=lambda t: t[0])


def _place_mention(text: str, start: int, end: int, entry: LexiconEntry) -> PlaceMention:
    rest = text[end:]
    if entry.kind == "road":
        m = _HOUSE_NUMBER.match(rest)
        number = _to_int(m.group(1)) if m else None
        if m and number is not None:
            return PlaceMention(
                "address",
                text[start : end + m.end()],
                entry.value,
                start,
                end + m.end(),
                number,
                (m.group(2) or "").replace(" ", "") + (m.group(3) or "") or None,
            )
    vicinity = _VICINITY.match(rest)
    stop = end + (vicinity.end() if vicinity else 0)
    return PlaceMention(entry.kind, text[start:stop], entry.value, start, stop)


def _buildings(text: str, taken: list[tuple[int, int]]) -> list[PlaceMention]:
    out = []
    for m in _BUILDING.finditer(text):
        if any(m.start() < e and m.end() > s for s, e in taken):
            continue
        if m.group(2):
            number, unit = _to_int(m.group(1)), _to_int(m.group(3))
            value = (
                f"{number}号楼"
                + (f"{unit}单元" if unit is not None else "")
                + (f"{m.group(4)}室" if m.group(4) else "")
            )
            out.append(
                PlaceMention(
                    "building", m.group(), value, m.start(), m.end(), number, f"{unit}单元" if unit else None
                )
            )
        else:
            unit = _to_int(m.group(5))
            out.append(
                PlaceMention("building", m.group(), f"{unit}单元", m.start(), m.end(), None, f"{unit}单元")
            )
    return out


def extract_places(text: str) -> tuple[PlaceMention, ...]:
    """Place mentions in `text`, in order of appearance.

    Args:
        text: a resident's message, ideally already normalised (half-width, simplified, digits).

    Returns:
        PlaceMention tuples; `value` is canonical (广州起义路 for 起义路, 三眼井社区 for 三眼井那边,
        洪桥 for 洪桥街). Road + house number gives kind "address" with `number` (and `detail`
        such as 之一); 3号楼2单元 gives kind "building".
    """
    if not text or not text.strip():
        return ()
    mentions = [_place_mention(text, s, e, entry) for s, e, entry in _lexicon_spans(text)]
    mentions += _buildings(text, [(m.start, m.end) for m in mentions])
    return tuple(sorted(mentions, key=lambda m: m.start))
