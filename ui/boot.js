// Loads the Leptos UI. Kept as a file (not inline) so the CSP can forbid inline scripts.
import init from "./ziflow_ui.js";

init({ module_or_path: new URL("./ziflow_ui_bg.wasm", import.meta.url) })
  .then(() => {
    const boot = document.getElementById("boot");
    if (boot) boot.remove();
  })
  .catch((err) => {
    const boot = document.getElementById("boot");
    if (boot) boot.textContent = "ZiFlow could not start its interface: " + err;
  });
