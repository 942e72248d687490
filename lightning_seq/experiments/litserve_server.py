"""The same endpoint on LitServe, for the measurement that chose the server library (docs/serve.md); not shipped as
a front door. Requests are validated and encoded as ``lightning-seq serve`` does, and LitServe pools up to
``--max_batch_size`` *requests* per forward pass (FastAPI's batcher counts texts).

    python -m lightning_seq.experiments.litserve_server --ckpt CKPT --port 8001 --max_batch_size 16
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import litserve as ls
import torch
from fastapi import HTTPException

from lightning_seq.errors import UserError
from lightning_seq.inference.predictor import TopicPredictor
from lightning_seq.serve.schema import PredictRequest, PredictResponse, TextPrediction


class TopicAPI(ls.LitAPI):
    def __init__(self, checkpoints: list[str], threads: int, **batching: Any) -> None:
        super().__init__(**batching)
        self.checkpoints, self.threads = checkpoints, threads

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.threads)
        self.predictor = TopicPredictor.from_checkpoints(self.checkpoints)

    def decode_request(self, request: dict) -> tuple:
        try:
            parsed = PredictRequest.model_validate(request)
            self.predictor.check_top_k(parsed.top_k)
            return parsed.texts, parsed.top_k, self.predictor.encode(parsed.texts)
        except (UserError, ValueError) as error:
            raise HTTPException(422, str(error).replace("\n", " ")) from None

    def batch(self, inputs: list[tuple]) -> list[tuple]:
        return inputs  # requests of several texts each: pooled in predict

    def unbatch(self, output: list[dict]) -> list[dict]:
        return output

    def predict(self, requests: tuple | list[tuple]) -> dict | list[dict]:
        pooled = isinstance(requests, list)
        requests = requests if pooled else [requests]
        probabilities = self.predictor.probabilities([item for _, _, encoded in requests for item in encoded])
        answers = []
        for (texts, top_k, encoded), rows in zip(
            requests, probabilities.split([len(encoded) for _, _, encoded in requests]), strict=True
        ):
            predictions = self.predictor.predictions(texts, encoded, rows, top_k)
            answers.append(PredictResponse(predictions=[TextPrediction.of(p) for p in predictions]).model_dump())
        return answers if pooled else answers[0]

    def encode_response(self, output: dict) -> dict:
        return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", action="append", required=True)
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--max_batch_size", type=int, default=16, help="requests per forward pass (1: off)")
    parser.add_argument("--batch_timeout", type=float, default=0.005)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    api = TopicAPI(args.ckpt, args.threads, max_batch_size=args.max_batch_size, batch_timeout=args.batch_timeout)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=60)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main()
