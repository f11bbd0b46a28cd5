"""The plain-text part: readable lines, lists and links from an email's HTML."""

from __future__ import annotations

from webapp.outbound.text import html_to_text

TYPICAL_EMAIL = """<!DOCTYPE html>
<html>
<head>
  <title>Quick question</title>
  <style>p { margin: 0 0 12px; } .cta { color: #fff; }</style>
</head>
<body>
<table role="presentation" width="100%"><tr><td>
  <p>Hi Jane,</p>
  <p>I noticed   Acme&nbsp;Corp is   hiring
     three SDRs &mdash; congrats &amp; good luck!</p>
  <p>Teams like yours use us to:</p>
  <ul>
    <li>find accounts that are <b>actually</b> in market</li>
    <li>see who opened, clicked and replied</li>
  </ul>
  <p><a class="cta" href="https://acme.example/demo?utm=1&amp;src=mail">Book a 15-minute
     call</a></p>
  <p>Or just reply to this email.<br>Thanks,<br>Sam</p>
  <p><a href="https://acme.example/">https://acme.example/</a> &middot;
     <a href="mailto:sam@acme.example">sam@acme.example</a></p>
  <script>alert("never shown")</script>
</td></tr></table>
</body>
</html>"""


def test_text_part_of_a_typical_email() -> None:
    assert html_to_text(TYPICAL_EMAIL) == (
        "Hi Jane,\n"
        "\n"
        "I noticed Acme Corp is hiring three SDRs — congrats & good luck!\n"
        "\n"
        "Teams like yours use us to:\n"
        "\n"
        "- find accounts that are actually in market\n"
        "- see who opened, clicked and replied\n"
        "\n"
        "Book a 15-minute call (https://acme.example/demo?utm=1&src=mail)\n"
        "\n"
        "Or just reply to this email.\n"
        "Thanks,\n"
        "Sam\n"
        "\n"
        "https://acme.example/ · sam@acme.example"
    )


def test_text_numbers_ordered_lists_and_indents_nested_lists() -> None:
    html = "<ol><li>First<ul><li>detail</li></ul></li><li>Second</li></ol><p>End</p>"
    assert html_to_text(html) == "1. First\n  - detail\n2. Second\n\nEnd"


def test_text_shows_image_links_by_alt_text_and_bare_links_by_url() -> None:
    html = (
        '<a href="https://acme.example/"><img src="logo.png" alt="Acme"></a>'
        '<p><a href="https://acme.example/x"><img src="x.png"></a></p>'
    )
    assert html_to_text(html) == "Acme (https://acme.example/)\n\nhttps://acme.example/x"


def test_text_drops_non_web_link_targets_and_keeps_their_text() -> None:
    html = '<p><a href="javascript:go()">Click</a> <a href="#top">top</a> <a href="/x">rel</a></p>'
    assert html_to_text(html) == "Click top rel"


def test_text_puts_table_rows_on_lines_and_cells_side_by_side() -> None:
    html = "<table><tr><td>Plan</td><td>Price</td></tr><tr><td>Pro</td><td>$49</td></tr></table>"
    assert html_to_text(html) == "Plan Price\nPro $49"
