# R twin of robustsk.stats.accuracy_interval.

#' Confidence interval for a robust accuracy
#'
#' @param correct logical (or 0/1) vector, one entry per example: correct under attack.
#' @param method "wilson" (score interval, as prop.test(correct = FALSE)),
#'   "clopper-pearson" (as binom.test) or "agresti-coull" (truncated to [0, 1]).
#' @param alpha error rate; the interval has level 1 - alpha.
#' @return a list of class robustsk_interval: estimate, low, high, n, successes, method, alpha.
#' @export
accuracy_interval <- function(correct, method = "wilson", alpha = 0.05) {
  correct <- .check_correct(correct, "correct")
  .check_alpha(alpha)
  method <- .check_choice(method, c("wilson", "clopper-pearson", "agresti-coull"), "method")
  .interval_from_counts(sum(correct), length(correct), method, alpha)
}

.interval_from_counts <- function(x, n, method, alpha) {
  ci <- switch(method,
    "wilson" = suppressWarnings(
      stats::prop.test(x, n, conf.level = 1 - alpha, correct = FALSE))$conf.int,
    "clopper-pearson" = stats::binom.test(x, n, conf.level = 1 - alpha)$conf.int,
    "agresti-coull" = {
      # Agresti & Coull (1998): add z^2/2 successes and z^2/2 failures.
      z <- stats::qnorm(1 - alpha / 2)
      n_t <- n + z^2
      p_t <- (x + z^2 / 2) / n_t
      half <- z * sqrt(p_t * (1 - p_t) / n_t)
      c(max(0, p_t - half), min(1, p_t + half))
    })
  .result(list(estimate = x / n, low = ci[1], high = ci[2], n = as.integer(n),
               successes = as.integer(x), method = method, alpha = alpha),
          "robustsk_interval")
}
