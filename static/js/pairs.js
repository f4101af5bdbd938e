// Before/after pairs on the studio's page: the range under each picture (or a drag on it, or the arrow keys)
// moves the line between the original (left) and the retouched picture (right).
document.querySelectorAll("[data-pair]").forEach((pair) => {
  const range = pair.querySelector("input[type=range]");
  const frame = pair.querySelector(".pair-frame");
  const show = () => frame.style.setProperty("--split", `${range.value}%`);
  range.addEventListener("input", show);
  const follow = (event) => {
    const box = frame.getBoundingClientRect();
    range.value = Math.round(Math.min(100, Math.max(0, ((event.clientX - box.left) / box.width) * 100)));
    show();
  };
  frame.addEventListener("pointerdown", (event) => {
    frame.setPointerCapture(event.pointerId);
    follow(event);
    const move = (e) => follow(e);
    frame.addEventListener("pointermove", move);
    frame.addEventListener("pointerup", () => frame.removeEventListener("pointermove", move), { once: true });
  });
  pair.classList.add("pair-live");
  show();
});
