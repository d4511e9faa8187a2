"""Message catalogues of the subsystems (Simplified Chinese and English), merged into
server.i18n.MESSAGES: each module has a MESSAGES dict of key → {"zh-CN": ..., "en": ...}."""
from server.catalogs import casework, devices
from server.catalogs import retention as retention_catalog
from server.catalogs import exports as exports_catalog
from server.catalogs import custody as custody_catalog
from server.catalogs import audit as audit_catalog
from server.catalogs import station as station_catalog
from server.catalogs import security as security_catalog
from server.catalogs import media as media_catalog
from server.catalogs import web, web_audit, web_cases, web_legal

CATALOGS = (casework.MESSAGES, devices.MESSAGES, retention_catalog.MESSAGES, exports_catalog.MESSAGES, custody_catalog.MESSAGES,
            audit_catalog.MESSAGES, station_catalog.MESSAGES, security_catalog.MESSAGES, media_catalog.MESSAGES,
            web.MESSAGES, web_cases.MESSAGES, web_legal.MESSAGES, web_audit.MESSAGES)
