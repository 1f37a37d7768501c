/** The dashboard's API Keys page (Settings → API Keys), served at /dashboard/api-keys. */
import { render } from "hono/jsx/dom";
import { App } from "./components/App";

const root = document.getElementById("app");
if (root) {
  root.textContent = "";
  render(<App />, root);
}
