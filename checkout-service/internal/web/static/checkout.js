// Secure checkout pages: a little progressive enhancement, no inline handlers.
(function () {
  "use strict";
  var d = document;

  // Focus the error summary so screen readers announce it.
  function focusErrors() {
    var e = d.getElementById("errors");
    if (e && !e.hidden) { e.focus(); }
  }

  function showError(msg, fieldErr) {
    var e = d.getElementById("errors");
    if (fieldErr) { fieldErr.textContent = msg; fieldErr.hidden = false; }
    if (e) { e.innerHTML = ""; var p = d.createElement("p"); p.textContent = msg; e.appendChild(p); e.hidden = false; e.focus(); }
  }

  // One submit per form: a double click sends once (the server is idempotent anyway).
  function guardSubmit(form, before) {
    form.addEventListener("submit", function (ev) {
      if (form.dataset.sent === "1") { ev.preventDefault(); return; }
      if (before && before(ev) === false) { ev.preventDefault(); return; }
      form.dataset.sent = "1";
      form.setAttribute("aria-busy", "true");
      var bs = form.querySelectorAll("button[type=submit]");
      for (var i = 0; i < bs.length; i++) { bs[i].setAttribute("aria-disabled", "true"); }
    });
  }

  // Sandbox widget: turns a test card number into a sandbox token in the
  // browser; the card number field has no name, so it is never posted.
  var sandboxCards = {
    "4242424242424242": "tok_sandbox_ok",
    "4000002760003184": "tok_sandbox_3ds",
    "4000000000009995": "tok_sandbox_insufficient_funds",
    "4000000000000002": "tok_sandbox_decline_soft",
    "4000000000009979": "tok_sandbox_stolen",
    "4000000000000259": "tok_sandbox_timeout"
  };

  function sandboxWidget(form) {
    var num = d.getElementById("card-number"), tok = d.getElementById("pay-token"), err = d.getElementById("card-err");
    num.addEventListener("input", function () {
      var digits = num.value.replace(/\D/g, "").slice(0, 19);
      num.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
      num.removeAttribute("aria-invalid");
      err.hidden = true;
    });
    var picks = form.querySelectorAll("button[data-card]");
    for (var i = 0; i < picks.length; i++) {
      picks[i].addEventListener("click", function (ev) {
        num.value = ev.currentTarget.getAttribute("data-card");
        d.getElementById("card-exp").value = "12 / 34";
        d.getElementById("card-cvc").value = "123";
        num.focus();
      });
    }
    return function () {
      var digits = num.value.replace(/\D/g, "");
      var t = sandboxCards[digits];
      if (!t) {
        num.setAttribute("aria-invalid", "true");
        showError(digits.length < 12 ? "Enter your card number." : "This card number isn't a sandbox test card. Open “Test cards” for numbers to use.", err);
        return false;
      }
      tok.value = t;
      return true;
    };
  }

  // Stripe Elements: the card field lives in Stripe's iframe; we post only
  // the PaymentMethod id it returns.
  function stripeWidget(form) {
    if (!window.Stripe) { return function () { showError("The card form didn't load. Please reload the page.", d.getElementById("card-err")); return false; }; }
    var stripe = window.Stripe(form.dataset.key), elements = stripe.elements(), card = elements.create("card");
    card.mount("#gateway-widget");
    var ready = false;
    return function (ev) {
      if (ready) { return true; }
      ev.preventDefault();
      stripe.createPaymentMethod({ type: "card", card: card, billing_details: { email: form.dataset.email } }).then(function (r) {
        if (r.error) { showError(r.error.message, d.getElementById("card-err")); return; }
        d.getElementById("pay-token").value = r.paymentMethod.id;
        ready = true;
        form.requestSubmit();
      });
      return false;
    };
  }

  function payForm() {
    var form = d.getElementById("pay-form");
    if (!form) { return; }
    var before = null;
    switch (form.dataset.widget) {
      case "sandbox": before = sandboxWidget(form); break;
      case "stripe": before = stripeWidget(form); break;
    }
    guardSubmit(form, before);
  }

  // A gateway's own widget finishes a payment that the server has routed:
  // Razorpay Checkout (an order to pay), PayPal buttons (an order to
  // approve) or Stripe's next action (3-D Secure in the page). Success posts
  // the confirm form; the server then asks the gateway, trusting nothing here.
  function gatewayAction() {
    var box = d.getElementById("gw-action");
    if (!box) { return; }
    var na = JSON.parse(box.dataset.next || "{}"), data = na.data || {}, form = d.getElementById("gw-confirm"),
      open = d.getElementById("gw-open"), pay = d.getElementById("pay-form");
    if (pay) { pay.hidden = true; }
    function finish(outcome) { form.elements.outcome.value = outcome; form.submit(); }
    switch (box.dataset.type) {
      case "sdk":
        if (!window.Razorpay) { showError("The payment window didn't load. Please reload the page."); return; }
        var rzp = new window.Razorpay({
          key: data.key_id, order_id: data.order_id, amount: data.amount, currency: data.currency,
          name: box.dataset.store, description: data.description, prefill: data.prefill, notes: data.notes,
          handler: function () { finish("done"); },
          modal: { ondismiss: function () { finish("dismissed"); } }
        });
        open.addEventListener("click", function () { rzp.open(); });
        rzp.open();
        break;
      case "approve":
        open.hidden = true;
        if (!window.paypal) { showError("PayPal didn't load. Please reload the page."); return; }
        window.paypal.Buttons({
          createOrder: function () { return data.order_id; },
          onApprove: function () { finish("done"); },
          onCancel: function () { finish("dismissed"); }
        }).render("#gw-buttons");
        break;
      case "client_secret":
        var pk = pay && pay.dataset.key;
        if (!window.Stripe || !pk) { showError("The card check didn't load. Please reload the page."); return; }
        var stripe = window.Stripe(pk);
        var go = function () { stripe.handleNextAction({ clientSecret: na.client_secret }).then(function () { finish("done"); }); };
        open.addEventListener("click", go);
        go();
        break;
    }
  }

  // Login by code through otp-service's API on this origin (nginx routes
  // /auth/ to it). On success the access token goes to our server in a
  // CSRF-protected form post; on the details page the contact fields are
  // filled from the verified identity.
  function otp() {
    var box = d.getElementById("otp");
    if (!box || !window.fetch) { return; }
    box.hidden = false;
    var auth = box.dataset.auth, msg = d.getElementById("otp-msg"), start = d.getElementById("otp-start"),
      verify = d.getElementById("otp-verify"), who = d.getElementById("otp-id"), code = d.getElementById("otp-code"),
      done = d.getElementById("otp-done"), challenge = "", busy = false;
    function say(t, bad) { msg.textContent = t; msg.className = bad ? "err" : "hint"; }
    function post(path, body) {
      return fetch(auth + path, { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(body) })
        .then(function (r) { return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, body: j }; }); });
    }
    start.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) { return; }
      var v = who.value.trim(), body = v.indexOf("@") > 0 ? { email: v } : { phone: v.replace(/[\s().-]/g, "") };
      if (!v) { say("Enter your mobile number (with the country code) or your email.", true); who.focus(); return; }
      busy = true; say("Sending a code…");
      post("/v1/otp/start", body).then(function (r) {
        busy = false;
        if (r.status === 202 || r.status === 200) {
          challenge = r.body.challenge_id;
          verify.hidden = false; code.value = ""; code.focus();
          say("We sent a code to " + v + ". Enter it below.");
        } else if (r.status === 429) {
          say("Please wait a moment before asking for another code.", true);
        } else {
          say((r.body.error && r.body.error.message) || "We couldn't send a code. Check the number or email.", true);
        }
      }).catch(function () { busy = false; say("We couldn't reach the login service. Please try again.", true); });
    });
    verify.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy || !challenge) { return; }
      busy = true; say("Checking the code…");
      post("/v1/otp/verify", { challenge_id: challenge, code: code.value.trim() }).then(function (r) {
        busy = false;
        if (r.status !== 200 || !r.body.access_token) {
          say(r.status === 401 ? "That code didn't match. Check the latest message and try again." :
            "This code can no longer be used. Send a new code.", true);
          code.focus();
          code.select();
          return;
        }
        var c = r.body.customer || {}, email = d.getElementById("email"), phone = d.getElementById("phone");
        if (email && c.email && !email.value) { email.value = c.email; }
        if (phone && c.phone && !phone.value) { phone.value = c.phone; }
        done.elements.access_token.value = r.body.access_token;
        done.elements.magento_customer_token.value = r.body.magento_customer_token || "";
        done.elements.email.value = c.email || "";
        done.elements.phone.value = c.phone || "";
        say("You're logged in.");
        done.submit();
      }).catch(function () { busy = false; say("We couldn't reach the login service. Please try again.", true); });
    });
  }

  // Confirmation: poll until magento-bridge has placed the order.
  function poll() {
    var box = d.getElementById("confirm");
    if (!box || !box.dataset.poll) { return; }
    var url = box.dataset.poll, every = parseInt(box.dataset.interval, 10) || 2000, tries = 0;
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
        return r.ok ? r.json() : null;
      }).then(function (s) {
        tries++;
        if (s && s.next) { location.assign(s.next); return; }
        if (s && s.status !== box.dataset.status) { location.reload(); return; }
        if (s) {
          d.getElementById("pay-status").textContent = s.status_text + d.getElementById("pay-status").textContent.replace(/^[^·]*/, " ");
          if (s.order_number) {
            var on = d.getElementById("order-number"), strong = d.createElement("strong");
            strong.textContent = s.order_number;
            on.innerHTML = "";
            on.appendChild(strong);
            return;
          }
        }
        if (tries < 150) { setTimeout(tick, every); }
      }).catch(function () { setTimeout(tick, every * 2); });
    }
    setTimeout(tick, every);
  }

  // A page restored by the back button (back/forward cache) may be sent again.
  window.addEventListener("pageshow", function (ev) {
    if (!ev.persisted) { return; }
    var fs = d.querySelectorAll("form[data-sent]");
    for (var i = 0; i < fs.length; i++) {
      delete fs[i].dataset.sent;
      fs[i].removeAttribute("aria-busy");
      var bs = fs[i].querySelectorAll("button[aria-disabled]");
      for (var j = 0; j < bs.length; j++) { bs[j].removeAttribute("aria-disabled"); }
    }
  });

  d.addEventListener("DOMContentLoaded", function () {
    // On a phone the order summary starts folded (its total stays visible).
    var sum = d.querySelector(".summary details");
    if (sum && !sum.dataset.keepOpen && window.matchMedia && window.matchMedia("(max-width: 899px)").matches && !d.getElementById("confirm")) {
      sum.open = false;
    }
    var forms = d.querySelectorAll("form.js-once:not(#pay-form)");
    for (var i = 0; i < forms.length; i++) { guardSubmit(forms[i]); }
    payForm();
    gatewayAction();
    otp();
    poll();
    focusErrors();
  });
})();
