// A modal question (the native <dialog>: focus stays inside, Escape cancels): a confirmation, or one named value.
import { h } from "../dom.js";

export function ask({ title, message, confirm, input }) {
  return new Promise((resolve) => {
    const field = input ? h("input", { id: "dialog-input", value: input.value ?? "", required: true }) : null;
    const dialog = h("dialog", { "aria-labelledby": "dialog-title" },
      h("form", { method: "dialog" },
        h("h2", { id: "dialog-title" }, title),
        message ? h("p", {}, message) : null,
        field ? [h("label", { for: "dialog-input" }, input.label), field] : null,
        h("div", { class: "buttons" },
          h("button", { type: "submit", value: "ok", class: confirm.danger ? "danger" : null }, confirm.label),
          h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel"))));
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "ok" ? (field ? field.value.trim() : true) : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (field ?? dialog.querySelector("button[value=cancel]")).focus();
  });
}
