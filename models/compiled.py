"""lleaves-compiled LightGBM predictors, shared by the risk scorer (large batches) and the recommender (every ranking).

lleaves turns a LightGBM model file into machine code through LLVM: the same raw scores (to ~1e-12; it sums the
trees in blocks), several times faster than ``Booster.predict``. Compiling takes seconds (7 s for 221 trees,
15 s for 1,541), so the object file is cached beside the artifact. Optional: without lleaves and llvmlite
``LleavesBatch.build`` returns None and callers use LightGBM.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class LleavesBatch:
    """lleaves' compiled predictor (raw scores), its object file cached in ``<artifact>/.cache/``.

    The cache name carries the lleaves and llvmlite versions and the CPU, since the object is compiled for this
    host's instruction set; it is written under a temporary name and renamed, so two workers compiling at once
    never read half a file. Where the folder is read-only the model compiles in memory on every load.
    """

    def __init__(self, model) -> None:
        self._model = model

    @classmethod
    def build(cls, model_file: str | Path, cache_dir: str | Path | None = None) -> LleavesBatch | None:
        try:
            import lleaves
            import llvmlite
            import llvmlite.binding as llvm
        except ImportError:
            return None
        model_file = Path(model_file)
        try:
            model = lleaves.Model(model_file=str(model_file))
            try:
                features = llvm.get_host_cpu_features().flatten()
            except RuntimeError:
                features = ""
            key = hashlib.sha256(f"{lleaves.__version__ if hasattr(lleaves, '__version__') else ''}|"
                                 f"{llvmlite.__version__}|{llvm.get_host_cpu_name()}|{features}|"
                                 f"{model_file.stat().st_size}|{model_file.stat().st_mtime_ns}".encode()).hexdigest()[:16]
            folder = Path(cache_dir) if cache_dir else model_file.parent / ".cache"
            target = folder / f"lleaves-{model_file.stem}-{key}.o"
            if target.exists():
                model.compile(cache=str(target), raw_score=True)
            else:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=folder)
                    os.close(fd)
                    os.unlink(tmp)                         # lleaves writes the object only when the path is absent
                except OSError:
                    model.compile(raw_score=True)
                    return cls(model)
                model.compile(cache=tmp, raw_score=True)
                try:
                    os.replace(tmp, target)
                except OSError:
                    pass
            return cls(model)
        except Exception:  # noqa: BLE001 - LightGBM still scores
            log.exception("lleaves could not compile %s; batches use LightGBM", model_file)
            return None

    def predict(self, matrix: np.ndarray, n_jobs: int = 1) -> np.ndarray:
        return self._model.predict(np.ascontiguousarray(matrix, dtype=np.float64), n_jobs=max(1, n_jobs))
