"""The file an image result that came only as bytes is attached to its card under.

A gpt-image style answer (``b64_json``) has no link: the bot uploads the bytes to Discord as
the card's attachment, and that attachment is then the image's only link. The presenter that
attaches it (``cogs.media``) and Animate, which reads it back from the card, share this name.
"""

from __future__ import annotations


def bytes_image_name(job_id: int) -> str:
    """The card attachment's file name for job ``job_id``'s image."""
    return f"atelier-{job_id}.png"
