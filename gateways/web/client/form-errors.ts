/**
 * Shows the API's error codes (docs/errors.md) next to the form fields they are about, with
 * Bootstrap's validation styles and aria-invalid, and focuses the first field in error.
 */
import { ApiError, describeError } from './api.js';
import { byId, hide, show } from './dom.js';

/** Which field each code is about; codes not listed are shown above the form. */
const FIELD_OF_CODE: Record<string, string> = {
  USERNAME_INVALID: 'username',
  USERNAME_TAKEN: 'username',
  USER_NOT_FOUND: 'username',
  PASSWORD_TOO_SHORT: 'password',
  PASSWORD_TOO_LONG: 'password',
};

export class FormErrors {
  readonly #form: HTMLFormElement;
  readonly #banner: HTMLElement;

  constructor(form: HTMLFormElement, bannerId = 'form-error') {
    this.#form = form;
    this.#banner = byId(bannerId, HTMLElement);
  }

  clear(): void {
    hide(this.#banner);
    for (const input of this.#form.querySelectorAll<HTMLInputElement>('.is-invalid')) {
      input.classList.remove('is-invalid');
      input.removeAttribute('aria-invalid');
      // The field still points at its message (aria-describedby): an old one would be read out as if it held.
      const feedback = document.getElementById(`${input.name}-error`);
      if (feedback) feedback.textContent = '';
    }
  }

  field(name: string, message: string): void {
    const input = this.#form.querySelector<HTMLInputElement>(`[name="${CSS.escape(name)}"]`);
    const feedback = document.getElementById(`${name}-error`);
    if (!input || !feedback) return this.banner(message);
    input.classList.add('is-invalid');
    input.setAttribute('aria-invalid', 'true');
    feedback.textContent = message;
  }

  banner(message: string): void {
    show(this.#banner, message);
  }

  /** Places an error from a request; returns after focusing the first invalid field. */
  fromError(err: unknown): void {
    if (err instanceof ApiError) {
      const field = FIELD_OF_CODE[err.code];
      if (field) this.field(field, err.message);
      else if (err.code === 'VALIDATION_FAILED' && Array.isArray(err.details)) this.#validation(err.details);
      else if (err.code === 'INVALID_CREDENTIALS') {
        // Deliberately not saying which of the two is wrong (the API does not know either): on a form
        // that asks for both, above them as well; where only the password was asked, on its field alone.
        this.field('password', err.message);
        if (this.#form.querySelector('[name="username"]')) this.banner(err.message);
      } else this.banner(describeError(err));
    } else {
      this.banner(describeError(err));
    }
    this.focusFirstInvalid();
  }

  focusFirstInvalid(): void {
    this.#form.querySelector<HTMLInputElement>('.is-invalid')?.focus();
  }

  #validation(details: unknown[]): void {
    let placed = false;
    for (const d of details) {
      const path = typeof d === 'object' && d !== null ? (d as { path?: unknown }).path : undefined;
      const message = typeof d === 'object' && d !== null ? (d as { message?: unknown }).message : undefined;
      const name = typeof path === 'string' ? path.replace(/^\//, '').split('/')[0] : undefined;
      if (name && typeof message === 'string' && this.#form.querySelector(`[name="${CSS.escape(name)}"]`)) {
        this.field(name, message);
        placed = true;
      }
    }
    if (!placed) this.banner('Please check the fields.');
  }
}

/**
 * Submits the form through send: the errors cleared, the local checks run (they mark fields; the
 * rules themselves are the server's), and only if none failed, send with the submit button disabled
 * so a double click sends once. An error send throws is placed by errors and the button enabled again.
 */
export function onSubmit(form: HTMLFormElement, errors: FormErrors, check: () => void, send: () => Promise<void>): void {
  const submit = async (): Promise<void> => {
    errors.clear();
    check();
    if (form.querySelector('.is-invalid')) return errors.focusFirstInvalid();
    const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      await send();
    } catch (err) {
      errors.fromError(err);
      if (button) button.disabled = false;
    }
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void submit();
  });
}
