"""The ``loss_weights`` argument of the heads and estimators, read one way."""
from typing import Dict, Mapping, Optional


def merge_loss_weights(owner: str, defaults: Mapping[str, float],
                       given: Optional[Mapping[str, float]]) -> Dict[str, float]:
    """``defaults`` updated with ``given`` (floats); a key ``defaults`` does not have is an
    error naming ``owner`` and the known keys (a misspelt weight would otherwise be
    ignored without a word)."""
    out = {k: float(v) for k, v in defaults.items()}
    unknown = set(given or {}) - set(out)
    if unknown:
        raise ValueError(f'{owner}: unknown loss_weights {sorted(unknown)}; expected some of '
                         f'{sorted(out)}')
    out.update({k: float(v) for k, v in (given or {}).items()})
    return out
