# R twin of robustsk.stats.compare_paired and newcombe_paired_interval.

#' Newcombe's interval for the difference of two paired proportions
#'
#' Method 10 of Newcombe (1998): square-and-add of the two Wilson score
#' intervals with Newcombe's continuity-corrected phi correlation of the 2 x 2
#' table (A = n11 n00 - n10 n01 less n/2 above n/2, 0 on [0, n/2], A below 0;
#' 0 when a margin is empty), as Fagerland, Lydersen & Laake (2017).
#'
#' @param a,b logical (or 0/1) vectors, paired by position.
#' @param alpha error rate.
#' @return a list: estimate (mean(a) - mean(b)), low, high.
#' @export
newcombe_paired_interval <- function(a, b, alpha = 0.05) {
  v <- .check_paired(list(a = a, b = b))
  a <- v$a
  b <- v$b
  .check_alpha(alpha)
  n11 <- sum(a & b); n10 <- sum(a & !b); n01 <- sum(!a & b); n00 <- sum(!a & !b)
  n <- length(a)
  p1 <- (n11 + n10) / n
  p2 <- (n11 + n01) / n
  w1 <- accuracy_interval(a, method = "wilson", alpha = alpha)
  w2 <- accuracy_interval(b, method = "wilson", alpha = alpha)
  den <- as.numeric(n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
  # Newcombe's continuity-corrected phi: A - n/2 above n/2, 0 on [0, n/2], A below 0
  A <- as.numeric(n11) * n00 - as.numeric(n10) * n01
  A <- if (A > n / 2) A - n / 2 else if (A >= 0) 0 else A
  phi <- if (den > 0) A / sqrt(den) else 0
  d1l <- p1 - w1$low; d1u <- w1$high - p1
  d2l <- p2 - w2$low; d2u <- w2$high - p2
  list(estimate = p1 - p2,
       low = p1 - p2 - sqrt(max(d1l^2 - 2 * phi * d1l * d2u + d2u^2, 0)),
       high = p1 - p2 + sqrt(max(d1u^2 - 2 * phi * d1u * d2l + d2l^2, 0)))
}

#' Paired comparison of several defenses on the same test examples
#'
#' Cochran's Q across all defenses, exact McNemar tests for every pair with
#' p.adjust, and Newcombe's interval for every difference in robust accuracy,
#' in one data.frame.
#'
#' @param correct matrix, data.frame or list of per-example outcomes, one column
#'   (element) per defense. Unnamed columns are called group_0, group_1, ... (as in
#'   cochran_q and the Python twin); names must be unique.
#' @param p_adjust method of p.adjust for the pairwise tests.
#' @param alpha level of the tests, error rate of the intervals.
#' @param exact exact (binomial) McNemar tests.
#' @return a list of class robustsk_paired_comparison: table (defense_a,
#'   defense_b, accuracy_a, accuracy_b, difference, low, high, b, c, pvalue,
#'   pvalue_adjusted, reject), accuracy (defense, accuracy, low, high, n) and
#'   cochran (the cochran_q result).
#' @export
paired_comparison <- function(correct, p_adjust = "holm", alpha = 0.05, exact = TRUE) {
  q <- cochran_q(correct, p_adjust = p_adjust, exact = exact, alpha = alpha)
  # the defenses as cochran_q named them (group_0, ... for unnamed columns;
  # as.data.frame() would call them V1, ...), in column order, as Python's twin does
  correct <- as.data.frame(correct)
  colnames(correct) <- unique(c(q$pairwise$group_a, q$pairwise$group_b))
  pw <- q$pairwise
  ci <- lapply(seq_len(nrow(pw)), function(r) {
    newcombe_paired_interval(correct[[pw$group_a[r]]], correct[[pw$group_b[r]]], alpha)
  })
  table <- data.frame(defense_a = pw$group_a, defense_b = pw$group_b,
                      accuracy_a = vapply(pw$group_a, function(g) mean(correct[[g]] == 1), 0),
                      accuracy_b = vapply(pw$group_b, function(g) mean(correct[[g]] == 1), 0),
                      difference = vapply(ci, `[[`, 0, "estimate"),
                      low = vapply(ci, `[[`, 0, "low"), high = vapply(ci, `[[`, 0, "high"),
                      b = pw$b, c = pw$c, pvalue = pw$pvalue, pvalue_adjusted = pw$pvalue_adjusted,
                      reject = pw$reject, stringsAsFactors = FALSE, row.names = NULL)
  acc <- lapply(colnames(correct), function(g) accuracy_interval(correct[[g]], alpha = alpha))
  accuracy <- data.frame(defense = colnames(correct), accuracy = vapply(acc, `[[`, 0, "estimate"),
                         low = vapply(acc, `[[`, 0, "low"), high = vapply(acc, `[[`, 0, "high"),
                         n = nrow(correct), stringsAsFactors = FALSE)
  .result(list(table = table, accuracy = accuracy, cochran = q), "robustsk_paired_comparison")
}
