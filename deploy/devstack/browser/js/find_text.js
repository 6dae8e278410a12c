// The innermost visible elements under this element whose text, as a person reads it (white
// space collapsed), is exactly `text`. It climbs from each text node that is a piece of the
// wanted text, so text split over inline elements ("Sign <b>in</b>") is found as well.
function (text) {
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const want = norm(text);
  const found = new Set();
  if (!want) return [];
  const walker = document.createTreeWalker(this, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const piece = norm(n.data);
    if (!piece || !want.includes(piece)) continue;
    for (let el = n.parentElement; el; el = el.parentElement) {
      const seen = norm(el.innerText);
      if (seen === want) {
        if (el.checkVisibility()) found.add(el);
        break;
      }
      if (seen.length > want.length || el === this) break;
    }
  }
  return [...found];
}
