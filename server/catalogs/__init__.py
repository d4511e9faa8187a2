"""Message catalogues of the subsystems (Simplified Chinese and English), merged into
server.i18n.MESSAGES: each module has a MESSAGES dict of key → {"zh-CN": ..., "en": ...}."""
from server.catalogs import casework, devices

CATALOGS = (casework.MESSAGES, devices.MESSAGES)
