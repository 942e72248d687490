"""The request and response bodies of ``POST /predict`` (and so the OpenAPI schema at ``/docs``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr
from pydantic_core import PydanticCustomError

from lightning_seq.inference.predictor import TopicPrediction


def valid_unicode(text: str) -> str:
    """Refuse a lone surrogate (JSON's ``"\ud800"``, or the bytes ED A0 80 that Python's JSON reader lets through)
    before the model runs: the answer, which lists the text's unknown words, could not be encoded as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PydanticCustomError(
            "unicode",
            "not valid Unicode: a lone surrogate {character} at character {position} (of {length}); send UTF-8 text",
            {"character": ascii(text[error.start]), "position": error.start, "length": f"{len(text):,}"},
        ) from None
    return text


UnicodeText = Annotated[StrictStr, AfterValidator(valid_unicode)]


class PredictRequest(BaseModel):
    """Unknown fields are refused, so a misspelt ``top_k`` is not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    texts: list[UnicodeText] = Field(description="the texts to classify (at most the server's max_texts)")
    top_k: StrictInt | None = Field(
        None, description="ranked labels to return per text, 1 to the number of labels (default 3, or every label)"
    )


class LabelProbability(BaseModel):
    label: str
    probability: float


class TextPrediction(BaseModel):
    labels: list[LabelProbability] = Field(
        description="the decision: the most probable label, or for a multi-label model every label at or above its "
        "threshold"
    )
    top_k: list[LabelProbability] = Field(description="the top_k labels, most probable first")
    words: int = Field(description="words read from the text")
    unknown_word_count: int = Field(description="words the model's vocabulary does not hold (read as one OOV id)")
    unknown_words: list[str]
    truncated_tokens: int = Field(description="tokens cut to fit the training maxlen")

    @classmethod
    def of(cls, prediction: TopicPrediction) -> TextPrediction:
        return cls(
            labels=[LabelProbability(label=name, probability=p) for name, p in prediction.labels],
            top_k=[LabelProbability(label=name, probability=p) for name, p in prediction.topics],
            words=prediction.words,
            unknown_word_count=len(prediction.unknown_words),
            unknown_words=list(prediction.unknown_words),
            truncated_tokens=prediction.truncated_tokens,
        )


class PredictResponse(BaseModel):
    predictions: list[TextPrediction] = Field(description="one per text, in the request's order")


class ErrorResponse(BaseModel):
    detail: str = Field(description="one line: what was wrong and how to fix it")
