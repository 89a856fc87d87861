"""Pairwise judges for the win rate. Each gives, for (prompt, first, second), 1 when the first response
is better, 0 when the second is, 0.5 for a tie; the caller asks in both orders (position swap).

- `ScoreJudge`: scores each response on its own (a reward model, or a DPO checkpoint's implicit
  reward) and compares the scores; each (prompt, response) is scored once, so the swapped order
  costs nothing and, by construction, agrees.
- `LLMJudge`: asks a model behind an OpenAI-compatible chat-completions endpoint which answer is
  better; it may favour a position, which the swap turns into ties.
"""

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from stackpref.eval import scoring
from stackpref.eval.chat import as_responses, prompt_key, prompt_text

from stackpref.errors import StackprefError

SYSTEM = ("You compare two answers to a question from a Q&A site. Judge which answer is more helpful, correct "
          "and clear. Do not let the order of the answers or their length decide.")
USER = ("Question:\n{prompt}\n\n[Answer A]\n{a}\n\n[Answer B]\n{b}\n\n"
        "Which answer is better? Reply with exactly one word: A, B, or tie.")
_VERDICT = re.compile(r"\b(A|B|TIE)\b")


class ScoreJudge:
    def __init__(self, name: str, score):
        """`score(prompts, responses) -> np.ndarray` of one score per response (text), higher is better;
        prompts are text or message lists."""
        self.name = name
        self._score = score
        self._cache: dict[tuple[str, str], float] = {}

    def verdicts(self, prompts: list, first: list[str], second: list[str]) -> np.ndarray:
        keys = [prompt_key(p) for p in prompts]
        prompt_of = dict(zip(keys, prompts))
        todo = sorted({(k, r) for k, a, b in zip(keys, first, second) for r in (a, b)} - self._cache.keys())
        if todo:
            values = self._score([prompt_of[k] for k, _ in todo], [r for _, r in todo])
            self._cache.update(zip(todo, values.tolist()))
        a = np.array([self._cache[(k, r)] for k, r in zip(keys, first)])
        b = np.array([self._cache[(k, r)] for k, r in zip(keys, second)])
        return np.where(a > b, 1.0, np.where(a < b, 0.0, 0.5))


def reward_model_judge(loaded, batch_tokens: int, progress) -> ScoreJudge:
    """The reward model's score of prompt + response + EOS."""
    def score(prompts, responses):
        progress.step("judge: reward model scoring")
        sequences = scoring.reward_tokens(loaded.tokenizer, prompts, as_responses(prompts, responses))
        return scoring.reward_scores(loaded.model, [sequences], loaded.tokenizer.pad_token_id, batch_tokens,
                                     progress)[:, 0]

    return ScoreJudge(f"reward model {loaded.checkpoint.path}", score)


def implicit_reward_judge(loaded, beta: float, batch_tokens: int, progress) -> ScoreJudge:
    """beta * (log pi - log pi_ref) of each response, the DPO checkpoint's own preference."""
    def score(prompts, responses):
        tokenized = scoring.tokenize(loaded.tokenizer, prompts, as_responses(prompts, responses))
        pad = loaded.tokenizer.pad_token_id
        progress.step("judge: implicit reward, policy")
        with loaded.policy() as model:
            policy = scoring.response_logps(model, tokenized, pad, batch_tokens, progress)
        progress.step("judge: implicit reward, reference")
        with loaded.reference_model() as model:
            reference = scoring.response_logps(model, tokenized, pad, batch_tokens, progress)
        return beta * (policy - reference)[:, 0]

    return ScoreJudge(f"implicit reward of {loaded.checkpoint.path} (beta {beta})", score)


class LLMJudge:
    def __init__(self, url: str, model: str, workers: int = 8, timeout: float = 120.0,
                 api_key_env: str = "OPENAI_API_KEY"):
        self.name = f"LLM {model} at {url}"
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.workers = workers
        self.timeout = timeout
        key = os.environ.get(api_key_env)
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.unparsed = 0
        self._lock = threading.Lock()

    def verdicts(self, prompts: list[str], first: list[str], second: list[str]) -> np.ndarray:
        with ThreadPoolExecutor(self.workers) as pool:
            return np.array(list(pool.map(self.ask, prompts, first, second)), dtype=np.float64)

    def ask(self, prompt, a: str, b: str) -> float:
        """The verdict on answers a and b to `prompt` (text, or a conversation whose question it shows)."""
        import requests

        body = {"model": self.model, "temperature": 0, "max_tokens": 8,
                "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": USER.format(prompt=prompt_text(prompt), a=a, b=b)}]}
        try:
            response = requests.post(self.url, json=body, headers=self._headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise StackprefError(f"judge {self.url}: request failed ({type(exc).__name__}: {exc})") from None
        if response.status_code != 200:
            raise StackprefError(f"judge {self.url}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            content = response.json()["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise StackprefError(f"judge {self.url}: not a chat-completions response: {response.text[:200]}") from None
        return self.parse(content)

    def parse(self, content: str) -> float:
        """The first A, B or tie in the reply; anything else counts as a tie and is counted."""
        match = _VERDICT.search(content.upper())
        if match is None:
            with self._lock:
                self.unparsed += 1
            return 0.5
        return {"A": 1.0, "B": 0.0, "TIE": 0.5}[match.group(1)]
