"""Shapes of the ids Meta hands out that clients must tell apart."""

from __future__ import annotations

import re

#: A WhatsApp business-scoped user id (2026): ISO country code, ``.ENT`` for parent ids, ``.``, up to 128
#: alphanumerics, e.g. ``US.13491208655302741918``.
BSUID = re.compile(r"[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}")
