"""Write `hits.json`: realistic tracking-hit sequences, each hit labelled with its truth.

Run `python -m tests.tracking.corpus.generate` to rebuild it (seeded: the same file
every time). Each email is one story: who fetched its pixel and followed its links,
when (seconds after sending), from which address and with which user agent, and
whether a person (`human`) or a machine (`machine`) did it. The numbers follow
published behaviour:

* scanner clicks: log-normal around a median 43 s, two thirds within 20-60 s
  (putyourlightson/craft-campaign#546); a sweep follows every link within about a
  second (the `href`s in document order), the honeypot included unless the
  scanner only follows visible links (a third of them here, to be fair to the
  rules), and half of them render the message (pixel first);
* Safe Links / EOP, Mimecast, Proofpoint and Barracuda from their published ranges;
* Apple Mail Privacy Protection: a fetch from 17.0.0.0/8 with `Mozilla/5.0`
  minutes after delivery, whether or not anyone reads;
* Gmail and Yahoo image proxies: fetched when the person opens, at human times;
* readers (Outlook desktop with images often blocked, Outlook on the web, Apple
  Mail, Gmail) open a median of two hours after sending (log-normal, sigma 1.5)
  and click a few seconds to minutes after opening; some open again days later;
  forwarded emails are read by a colleague from another network;
* gateways that check a link when the person clicks it (Proofpoint's range, just
  before the person's own click), and a few people who click within minutes of
  sending with images blocked: the case the scanner window gets wrong, kept in
  so that the figures show it.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SEED = 20261129

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
EDGE = CHROME + " Edg/124.0.2478.67"
OUTLOOK_DESKTOP = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
OUTLOOK_CLICK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
IPHONE_SAFARI = IPHONE_MAIL.replace("Mobile/15E148", "Version/17.4 Mobile/15E148 Safari/604.1")
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
YAHOO_PROXY = "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
MIMECAST_NETS = ("205.139.110", "216.205.24", "91.220.42", "146.101.78")
EOP_NETS = ("40.107.{}", "52.100.{}", "104.47.{}")
VENDOR_AGENTS = ("Barracuda Sentinel (EE)", "Proofpoint URL Defense")


class Story:
    def __init__(self, rng: random.Random, name: str, links: int) -> None:
        self.rng = rng
        self.name = name
        self.links = links
        self.hits: list[dict[str, Any]] = []

    def hit(self, kind: str, at: float, ip: str, agent: str, truth: str, **more: Any) -> None:
        self.hits.append(
            {"kind": kind, "at": round(at, 3), "ip": ip, "agent": agent, "truth": truth, **more}
        )

    def sweep(self, at: float, ip: str, agent: str, *, honeypot: bool, pixel: bool) -> None:
        """A scanner: pixel (if it renders), then every href in document order, fast."""
        if pixel:
            self.hit("open", at - self.rng.uniform(0.3, 1.5), ip, agent, "machine")
        moment = at
        for link in range(self.links):
            self.hit("click", moment, ip, agent, "machine", link=link)
            moment += self.rng.uniform(0.05, 0.4)
        if honeypot:  # the footer comes last
            self.hit("click", moment, ip, agent, "machine", link="honeypot")

    def as_json(self) -> dict[str, Any]:
        self.hits.sort(key=lambda hit: hit["at"])
        return {"story": self.name, "links": self.links, "hits": self.hits}


def scanner_delay(rng: random.Random) -> float:
    return max(1.0, math.exp(rng.gauss(math.log(43.0), 0.5225)))


def reader_delay(rng: random.Random) -> float:
    return math.exp(rng.gauss(math.log(7200.0), 1.5))


def person_ip(rng: random.Random) -> str:
    first = rng.choice((24, 73, 81, 86, 92, 109, 176, 185, 188, 212))
    return f"{first}.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}.{rng.randrange(1, 255)}"


def cloud_ip(rng: random.Random) -> str:
    # Unlisted data-centre addresses (detonation VMs): not in any published range.
    return f"20.{rng.randrange(36, 60)}.{rng.randrange(0, 255)}.{rng.randrange(1, 255)}"


def reader(story: Story, rng: random.Random, client: str, *, click_share: float) -> None:
    """A person reading in `client`: opens (maybe again later), maybe clicks."""
    ip = person_ip(rng)
    opened = reader_delay(rng)
    if client == "outlook":
        if rng.random() < 0.5:  # images blocked by default: no pixel
            pass
        else:
            story.hit("open", opened, ip, OUTLOOK_DESKTOP, "human")
        click_agent = rng.choice((OUTLOOK_CLICK, EDGE, CHROME))
    elif client == "outlook_web":
        story.hit("open", opened, ip, EDGE, "human")
        click_agent = EDGE
    elif client == "apple_mail":
        story.hit("open", opened, ip, IPHONE_MAIL, "human")
        click_agent = IPHONE_SAFARI
    elif client == "gmail":
        story.hit("open", opened, f"66.249.84.{rng.randrange(1, 255)}", GMAIL_PROXY, "human",
                  proxy=True)  # fmt: skip
        click_agent = rng.choice((CHROME, ANDROID))
    elif client == "yahoo":
        story.hit("open", opened, f"98.137.{rng.randrange(0, 255)}.{rng.randrange(1, 255)}",
                  YAHOO_PROXY, "human", proxy=True)  # fmt: skip
        click_agent = CHROME
    else:
        raise ValueError(client)
    if rng.random() < click_share and story.links:
        story.hit("click", opened + rng.uniform(4, 180), ip, click_agent, "human",
                  link=rng.randrange(story.links))  # fmt: skip
    if rng.random() < 0.3 and client in ("outlook_web", "apple_mail"):
        story.hit("open", opened + rng.uniform(3600, 5 * 86400), ip,
                  EDGE if client == "outlook_web" else IPHONE_MAIL, "human")  # fmt: skip


def build() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    stories: list[Story] = []

    def new(name: str) -> Story:
        story = Story(rng, name, rng.choice((1, 2, 3, 3, 4)))
        stories.append(story)
        return story

    for _ in range(50):  # Defender-style detonation: browser agent, unlisted cloud address
        story = new("scanner_burst")
        story.sweep(scanner_delay(rng), cloud_ip(rng), CHROME,
                    honeypot=rng.random() < 2 / 3, pixel=rng.random() < 0.5)  # fmt: skip
        if rng.random() < 0.5:
            reader(story, rng, rng.choice(("outlook", "outlook_web")), click_share=0.4)
    for _ in range(20):  # Safe Links from Exchange Online Protection's ranges
        story = new("safe_links")
        net = rng.choice(EOP_NETS).format(rng.randrange(0, 255))
        story.sweep(scanner_delay(rng), f"{net}.{rng.randrange(1, 255)}", CHROME,
                    honeypot=True, pixel=rng.random() < 0.3)  # fmt: skip
        reader(story, rng, "outlook", click_share=0.4)
    for _ in range(20):  # Mimecast from its ranges
        story = new("mimecast")
        ip = f"{rng.choice(MIMECAST_NETS)}.{rng.randrange(1, 255)}"
        story.sweep(scanner_delay(rng), ip, CHROME, honeypot=True, pixel=False)
        reader(story, rng, rng.choice(("outlook", "outlook_web", "gmail")), click_share=0.4)
    for _ in range(10):  # gateways that name themselves
        story = new("named_gateway")
        story.sweep(scanner_delay(rng), cloud_ip(rng), rng.choice(VENDOR_AGENTS),
                    honeypot=True, pixel=False)  # fmt: skip
    for _ in range(30):  # Apple Mail Privacy Protection
        story = new("apple_mpp")
        story.hit("open", rng.uniform(2, 600), f"17.{rng.randrange(0, 255)}.{rng.randrange(0, 255)}"
                  f".{rng.randrange(1, 255)}", "Mozilla/5.0", "machine")  # fmt: skip
        if rng.random() < 0.3 and story.links:
            story.hit("click", reader_delay(rng), person_ip(rng), IPHONE_SAFARI, "human",
                      link=rng.randrange(story.links))  # fmt: skip
    for client, count in (("gmail", 35), ("yahoo", 15), ("outlook", 30), ("outlook_web", 20),
                          ("apple_mail", 15)):  # fmt: skip
        for _ in range(count):
            story = new(f"reader_{client}")
            reader(story, rng, client, click_share=0.35)
            if client == "gmail" and rng.random() < 0.4:  # opened again later
                again = story.hits[0]["at"] + rng.uniform(600, 3 * 86400)
                proxy = f"66.249.84.{rng.randrange(1, 255)}"
                story.hit("open", again, proxy, GMAIL_PROXY, "human", proxy=True)
    for _ in range(15):  # forwarded: a colleague reads it on another network
        story = new("forwarded")
        reader(story, rng, "gmail", click_share=0.2)
        later = max(hit["at"] for hit in story.hits) + rng.uniform(600, 86400)
        ip = person_ip(rng)
        story.hit("open", later, ip, OUTLOOK_DESKTOP, "human")
        if story.links:
            story.hit("click", later + rng.uniform(5, 120), ip, EDGE, "human",
                      link=rng.randrange(story.links))  # fmt: skip
    for _ in range(15):  # a person clicking two links a few seconds apart
        story = Story(rng, "two_links", rng.choice((2, 3, 4)))
        stories.append(story)
        ip, opened = person_ip(rng), reader_delay(rng)
        story.hit("open", opened, ip, EDGE, "human")
        first = opened + rng.uniform(5, 90)
        story.hit("click", first, ip, EDGE, "human", link=0)
        story.hit("click", first + rng.uniform(3, 20), ip, EDGE, "human", link=1)
    for _ in range(10):  # time-of-click checking: the gateway fetches as the person clicks
        story = new("time_of_click")
        ip, opened = person_ip(rng), reader_delay(rng)
        story.hit("open", opened, ip, OUTLOOK_DESKTOP, "human")
        clicked = opened + rng.uniform(10, 120)
        link = rng.randrange(story.links)
        gateway = f"148.163.{rng.randrange(128, 160)}.{rng.randrange(1, 255)}"  # Proofpoint
        story.hit("click", clicked - rng.uniform(0.2, 0.8), gateway, CHROME, "machine", link=link)
        story.hit("click", clicked, ip, EDGE, "human", link=link)
    for low, high in ((60, 140),) * 3 + ((150, 600),) * 3:
        # A person at their inbox, images blocked, clicking within minutes: half of
        # them inside the scanner window on purpose, the rules' known blind spot.
        story = new("fast_reader")
        story.hit("click", rng.uniform(low, high), person_ip(rng), OUTLOOK_CLICK, "human",
                  link=rng.randrange(story.links))  # fmt: skip
    return [story.as_json() for story in stories]


def main() -> None:
    corpus = build()
    (HERE / "hits.json").write_text(json.dumps({"seed": SEED, "emails": corpus}, indent=0) + "\n")
    hits = sum(len(email["hits"]) for email in corpus)
    print(f"{len(corpus)} emails, {hits} hits")


if __name__ == "__main__":
    main()
