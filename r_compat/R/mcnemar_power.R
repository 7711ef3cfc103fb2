# R twin of robustsk.stats.mcnemar_power and mcnemar_sample_size.

.check_rates <- function(difference, discordance) {
  if (!is.numeric(discordance) || length(discordance) != 1 || is.na(discordance) ||
      discordance <= 0 || discordance > 1) {
    stop(sprintf("discordance must be in (0, 1], the probability that the defenses disagree; got %s.",
                 .describe(discordance)), call. = FALSE)
  }
  if (!is.numeric(difference) || length(difference) != 1 || is.na(difference) ||
      abs(difference) > discordance) {
    stop(sprintf("difference must be a number with |difference| <= discordance; got %s.",
                 .describe(difference)), call. = FALSE)
  }
}

# For m = 0..max_m discordant examples, the probability that the exact test rejects.
.mcnemar_rejection <- function(max_m, difference, discordance, alpha) {
  m <- 0:max_m
  k <- stats::qbinom(alpha / 2, m, 0.5)
  k <- ifelse(2 * stats::pbinom(k, m, 0.5) <= alpha, k, k - 1)
  q <- (discordance + difference) / (2 * discordance)
  ifelse(k >= 0, stats::pbinom(k, m, q) + stats::pbinom(m - k - 1, m, q, lower.tail = FALSE), 0)
}

# Exact power on n examples; rejection (length > n) may be precomputed, or its running
# maximum, which gives an upper bound of the power that never decreases in n.
.mcnemar_power_core <- function(n, difference, discordance, alpha, rejection = NULL) {
  if (is.null(rejection)) rejection <- .mcnemar_rejection(n, difference, discordance, alpha)
  w <- stats::dbinom(0:n, n, discordance)
  min(max(sum(w * rejection[seq_len(n + 1)]), 0), 1)
}

#' Exact power of the exact McNemar test
#'
#' The number of discordant examples is M ~ Bin(n, discordance); given M = m
#' the test rejects when binom.test(b, m)$p.value <= alpha, with
#' b ~ Bin(m, (discordance + difference) / (2 discordance)). The power sums
#' the rejection probabilities exactly.
#'
#' @param n number of paired test examples.
#' @param difference true difference in robust accuracy, p10 - p01.
#' @param discordance probability that the defenses disagree, p10 + p01.
#' @param alpha level of the test.
#' @return a list of class robustsk_power: n, power, difference, discordance, alpha.
#' @export
mcnemar_power <- function(n, difference, discordance, alpha = 0.05) {
  .check_rates(difference, discordance)
  .check_alpha(alpha)
  if (!is.numeric(n) || length(n) != 1 || n < 1 || n != round(n)) {
    stop(sprintf("n must be a positive integer; got %s.", .describe(n)), call. = FALSE)
  }
  .result(list(n = as.integer(n), power = .mcnemar_power_core(n, difference, discordance, alpha),
               difference = difference, discordance = discordance, alpha = alpha), "robustsk_power")
}

#' Smallest test set on which the exact McNemar test has the given power
#'
#' Returns the first n whose exact power reaches the target. Replacing each
#' rejection probability given m discordant examples by its running maximum
#' over m gives an upper bound of the power that never decreases in n; a
#' bisection finds the first n where that bound reaches the target (no
#' smaller n can) and the exact power is scanned upwards from there.
#' Connor's (1987) normal approximation is reported beside it.
#'
#' @inheritParams mcnemar_power
#' @param power target power, strictly between 0 and 1.
#' @param max_n give up above this n.
#' @return a list of class robustsk_power: n, power (reached), target,
#'   n_approximate (Connor), difference, discordance, alpha.
#' @export
mcnemar_sample_size <- function(difference, discordance, power = 0.8, alpha = 0.05, max_n = 100000) {
  .check_rates(difference, discordance)
  .check_alpha(alpha)
  if (!is.numeric(power) || length(power) != 1 || is.na(power) || power <= 0 || power >= 1) {
    stop(sprintf("power must be one number strictly between 0 and 1, the probability of rejecting (e.g. 0.8); got %s.",
                 .describe(power)), call. = FALSE)
  }
  if (!is.numeric(max_n) || length(max_n) != 1 || !is.finite(max_n) || max_n < 1 || max_n != round(max_n)) {
    stop(sprintf("max_n must be a positive integer, the largest test set to consider; got %s.",
                 .describe(max_n)), call. = FALSE)
  }
  if (difference == 0) {
    stop("difference must be non-zero: no test set has power to detect a zero difference.", call. = FALSE)
  }
  za <- stats::qnorm(1 - alpha / 2)
  zb <- stats::qnorm(power)
  approx <- ceiling((za * sqrt(discordance) + zb * sqrt(discordance - difference^2))^2 / difference^2)
  fail <- function() stop(sprintf("no n <= max_n = %d reaches power %g.", max_n, power), call. = FALSE)
  high <- min(max(approx, 1), max_n)
  rejection <- .mcnemar_rejection(high, difference, discordance, alpha)
  while (.mcnemar_power_core(high, difference, discordance, alpha, rejection) < power) {
    if (high == max_n) fail()
    high <- min(2 * high, max_n)
    rejection <- .mcnemar_rejection(high, difference, discordance, alpha)
  }
  envelope <- cummax(rejection)
  low <- 1
  while (low < high) {
    mid <- (low + high) %/% 2
    if (.mcnemar_power_core(mid, difference, discordance, alpha, envelope) >= power) {
      high <- mid
    } else {
      low <- mid + 1
    }
  }
  n <- low
  while (n <= max_n) {
    reached <- .mcnemar_power_core(n, difference, discordance, alpha, rejection)
    if (reached >= power) break
    n <- n + 1
  }
  if (n > max_n) fail()
  .result(list(n = as.integer(n), power = reached, target = power, n_approximate = as.integer(approx),
               difference = difference, discordance = discordance, alpha = alpha), "robustsk_power")
}
