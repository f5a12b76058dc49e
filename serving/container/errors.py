"""The one exception a request handler turns into a 4xx answer with a JSON body."""

from __future__ import annotations


class RequestError(Exception):
    """The request cannot be served as sent; ``message`` says what is wrong and how to fix it.

    Parameters
    ----------
    status : int
        The HTTP status to answer with (400, 406, 413, 415, ...).
    message : str
        One line for the client, returned as ``{"error": message}``.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
