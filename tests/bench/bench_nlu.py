"""NLU parse speed with the trained model loaded: p50/p95 per message and messages/s (target p95 <= 50 ms).

Messages are the held-out texts (tests/data/nlu/heldout_*.yml), parsed one at a time through
`Agent.parse_message` exactly as the server does, after a warm-up. The normaliser alone is timed
beside it as the floor of what any pipeline pays.
"""

from __future__ import annotations

import time
from typing import Any

from bot.nlu.evaluate import PARSE_P95_TARGET_MS, latency_summary, load_heldout, parse_all


def _normaliser_only(texts: list[str]) -> dict[str, float]:
    from bot.nlu.normalise import normalise

    for text in texts[:20]:
        normalise(text)
    latencies = []
    for text in texts:
        start = time.perf_counter()
        normalise(text)
        latencies.append((time.perf_counter() - start) * 1000.0)
    return latency_summary(latencies)


def main() -> dict[str, Any]:
    from bot.nlu.training import ensure_model

    texts = [e.text for e in load_heldout()][:400]
    model_path = ensure_model(force=False, progress=lambda message: None)
    _, latencies = parse_all(model_path, texts)
    parse = latency_summary(latencies)
    floor = _normaliser_only(texts)
    print(
        f"nlu parse: p50 {parse['p50_ms']:.1f} ms, p95 {parse['p95_ms']:.1f} ms (target <= {PARSE_P95_TARGET_MS:.0f} ms), "
        f"{parse['messages_per_s']:.1f} msg/s over {parse['n']} held-out messages"
    )
    print(f"nlu baseline (normaliser alone): p50 {floor['p50_ms']:.2f} ms, p95 {floor['p95_ms']:.2f} ms")
    return {
        "parse": parse,
        "normaliser": floor,
        "target_p95_ms": PARSE_P95_TARGET_MS,
        "model": model_path.name,
    }


if __name__ == "__main__":
    main()
