"""Court-ready evidence bundles: a zip of a case's originals (and review copies), its manifest,
case document and custody excerpt with a signed checkpoint, and the standalone verifier
(`verify_bundle.py`, standard library only) that checks all of it offline."""
from storage.bundle.build import BundleResult, build_bundle
from storage.bundle.writer import BundleIntegrityError

__all__ = ["BundleIntegrityError", "BundleResult", "build_bundle"]
