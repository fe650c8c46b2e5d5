// The offers page's filter builder: as its fields change, it writes the filter they describe
// into the query box, so that buyers learn the language by using it. The text must be exactly
// what the server writes from the same fields when the form is sent without this script
// (build_query in marketplace/search/builder.py: the same order, formats and refusals);
// tests/test_offers_builder_browser.py compares the two.
(() => {
  const form = document.getElementById("filter-builder");
  const box = document.getElementById("q");
  if (!form || !box) {
    return;
  }
  const WHOLE_NUMBER = /^[0-9]{1,9}$/;
  const DECIMAL_NUMBER = /^[0-9]{1,9}(\.[0-9]{1,6})?$/;
  const PRICE_FIELDS = { gpu_hour: "gpu_price", hour: "price" };
  const DEFAULT_PRICE_PER = "gpu_hour";
  // Characters that end an unquoted word in the language (marketplace/search/lexer.py).
  const WORD_BREAKS = "()[],<>=!\"'";
  const ANY_WORDS = ["any", "*", "?"];
  const MAX_TEXT_LENGTH = 200;
  const MAX_WILDCARDS = 4;
  const MESSAGES = {
    gpus: "Enter a whole number of GPUs, 1 or more.",
    vram: "Enter the memory per GPU in GB, such as 80 or 40.5.",
    max_price: "Enter a price such as 2.5, with at most 6 decimals.",
    price_per: "Choose per GPU-hour or per hour.",
    regionQuotes: "A region cannot hold both ' and \".",
    tooLong: `Value longer than ${MAX_TEXT_LENGTH} characters.`,
    wildcards: `More than ${MAX_WILDCARDS} wildcards in one value.`,
  };

  class FieldError extends Error {}

  // quote_if_needed in marketplace/search/values.py
  const quoteIfNeeded = (text, underscoresMatter = false) => {
    const plain =
      text !== "" &&
      ![...text].some((char) => /\s/.test(char) || WORD_BREAKS.includes(char)) &&
      !ANY_WORDS.includes(text.toLowerCase()) &&
      !(underscoresMatter && text.includes("_"));
    if (plain) {
      return text;
    }
    const quote = text.includes('"') ? "'" : '"';
    return `${quote}${text}${quote}`;
  };

  const withoutLeadingZeros = (digits) => digits.replace(/^0+(?=[0-9])/, "");

  const decimal = (text, message) => {
    if (!DECIMAL_NUMBER.test(text)) {
      throw new FieldError(message);
    }
    const [whole, fraction = ""] = text.split(".");
    const kept = fraction.replace(/0+$/, "");
    return kept ? `${withoutLeadingZeros(whole)}.${kept}` : withoutLeadingZeros(whole);
  };

  // In the order the terms are written.
  const TERM_WRITERS = {
    gpu: (values) => {
      const name = values.gpu;
      const text = name.includes("_")
        ? quoteIfNeeded(name, true)
        : quoteIfNeeded(name.replaceAll(" ", "_"));
      return `gpu=${text}`;
    },
    gpus: (values) => {
      if (!WHOLE_NUMBER.test(values.gpus) || Number(values.gpus) < 1) {
        throw new FieldError(MESSAGES.gpus);
      }
      return `gpus>=${withoutLeadingZeros(values.gpus)}`;
    },
    vram: (values) => `vram>=${decimal(values.vram, MESSAGES.vram)}GB`,
    continent: (values) => `continent=${values.continent}`,
    region: (values) => {
      const text = values.region;
      if (text.includes('"') && text.includes("'")) {
        throw new FieldError(MESSAGES.regionQuotes);
      }
      if (text.length > MAX_TEXT_LENGTH) {
        throw new FieldError(MESSAGES.tooLong);
      }
      if (text.split("*").length - 1 > MAX_WILDCARDS) {
        throw new FieldError(MESSAGES.wildcards);
      }
      return `region=${quoteIfNeeded(text)}`;
    },
    pricing: (values) => `pricing=${values.pricing}`,
    max_price: (values) => {
      const per = values.price_per || DEFAULT_PRICE_PER;
      const field = Object.hasOwn(PRICE_FIELDS, per) ? PRICE_FIELDS[per] : "gpu_price";
      return `${field}<=${decimal(values.max_price, MESSAGES.max_price)}`;
    },
  };

  const fieldValues = () => {
    const values = {};
    for (const name of [...Object.keys(TERM_WRITERS), "price_per", "keep"]) {
      const field = form.elements[name];
      values[name] = field ? field.value.trim() : "";
    }
    return values;
  };

  // The query and the refusals, field by field, as build_query gives them.
  const build = (values) => {
    const terms = [];
    const errors = {};
    for (const [name, write] of Object.entries(TERM_WRITERS)) {
      if (!values[name]) {
        continue;
      }
      try {
        terms.push(write(values));
      } catch (error) {
        if (!(error instanceof FieldError)) {
          throw error;
        }
        errors[name] = error.message;
      }
    }
    if (values.price_per && !Object.hasOwn(PRICE_FIELDS, values.price_per)) {
      errors.price_per = MESSAGES.price_per;
    }
    return { query: (values.keep ? [...terms, values.keep] : terms).join(" "), errors };
  };

  const showError = (name, message) => {
    const field = form.elements[name];
    const note = field && document.getElementById(`${field.id}_error`);
    if (!note) {
      return;
    }
    note.textContent = message || "";
    note.hidden = !message;
    if (message) {
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", note.id);
    } else {
      field.removeAttribute("aria-invalid");
      field.removeAttribute("aria-describedby");
    }
  };

  const status = document.getElementById("builder-status");
  const write = () => {
    const { query, errors } = build(fieldValues());
    for (const name of [...Object.keys(TERM_WRITERS), "price_per"]) {
      showError(name, errors[name]);
    }
    box.value = query;
    if (status) {
      status.textContent = "";
    }
  };
  form.addEventListener("input", write);
  form.addEventListener("change", write);
  // The script cannot read text typed in the box (only the server parses it), so a field
  // changed after typing would overwrite it: say so while it can still be kept.
  box.addEventListener("input", () => {
    if (status) {
      status.textContent =
        "You edited the filter by hand: press Search to use it. Changing a field now rewrites the box.";
    }
  });
})();
