// The login page: the daemon's token (the file STATE/token) goes to POST /ui/login, which sets an HttpOnly session
// cookie; the page keeps only the CSRF token it answers with, never the daemon's token.
import { request, setCsrf, ApiError } from "../api.js";
import { h, mount } from "../dom.js";

export function showLogin(main, signedIn) {
  const error = h("p", { id: "token-error", class: "field-error", role: "alert" });
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "current-password", required: true, "aria-describedby": "token-help token-error" });
  const form = h("form", { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in"),
    h("label", { for: "token" }, "Daemon token"),
    input,
    h("p", { id: "token-help", class: "help" }, "The contents of the daemon's token file (STATE/token, mode 0600)."),
    error,
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    input.removeAttribute("aria-invalid");
    try {
      const reply = await request("POST", "/ui/login", { token: input.value });
      setCsrf(reply.metadata.csrf_token);
      input.value = "";
      signedIn();
    } catch (failure) {
      error.textContent = failure instanceof ApiError ? failure.message : String(failure);
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
  mount(main, form);
  input.focus();
}
