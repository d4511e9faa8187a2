"""Message catalogues of the subsystems (Simplified Chinese and English), merged into
server.i18n.MESSAGES: each module has a MESSAGES dict of key → {"zh-CN": ..., "en": ...}."""
from server.catalogs import casework, devices
from server.catalogs import retention as retention_catalog
from server.catalogs import exports as exports_catalog
from server.catalogs import custody as custody_catalog
from server.catalogs import audit as audit_catalog

CATALOGS = (casework.MESSAGES, devices.MESSAGES, retention_catalog.MESSAGES, exports_catalog.MESSAGES, custody_catalog.MESSAGES,
            audit_catalog.MESSAGES)
