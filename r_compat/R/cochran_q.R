# R twin of robustsk.stats.cochran_q.

#' Cochran's Q test across k defenses, with pairwise McNemar follow-ups
#'
#' Q = (k - 1) (k sum_j C_j^2 - N^2) / (k N - sum_i R_i^2), chi-squared with
#' k - 1 degrees of freedom (Cochran 1950). When every example has the same
#' outcome under every defense the ratio is 0/0 and Q and its p-value are NaN.
#'
#' @param ... two or more logical vectors (one per defense), a list of them, or one matrix /
#'   data.frame with one column per defense.
#' @param names optional names of the defenses, one per defense and unique
#'   (default: the column or argument names, else group_0, group_1, ...).
#' @param p_adjust method of p.adjust for the pairwise tests ("holm", ...).
#' @param exact,correction passed to mcnemar_test for the pairwise tests
#'   (TRUE or FALSE).
#' @param alpha level at which adjusted p-values are called significant.
#' @return a list of class robustsk_cochran_q: statistic, pvalue, df, k, n,
#'   p_adjust, method and pairwise, a data.frame with columns group_a,
#'   group_b, b, c, statistic, pvalue, pvalue_adjusted, reject.
#' @export
cochran_q <- function(..., names = NULL, p_adjust = "holm", exact = TRUE,
                      correction = TRUE, alpha = 0.05) {
  groups <- list(...)
  if (length(groups) == 1 && is.list(groups[[1]]) && !is.data.frame(groups[[1]])) {
    groups <- groups[[1]]  # a (named) list of vectors, as Python's dict of vectors
  }
  if (length(groups) == 1 && (is.matrix(groups[[1]]) || is.data.frame(groups[[1]]))) {
    m <- groups[[1]]
    groups <- lapply(seq_len(ncol(m)), function(j) m[, j])
    if (is.null(names)) names <- colnames(m)
  }
  if (is.null(names)) names <- base::names(groups)
  if (is.null(names) || any(!nzchar(names))) names <- paste0("group_", seq_along(groups) - 1)
  if (length(groups) < 2) {
    stop(sprintf("Cochran's Q compares two or more defenses; got %d outcome vector(s). %s",
                 length(groups), "Pass one vector per defense, a list of them, or a matrix with one column each."),
         call. = FALSE)
  }
  names <- .check_unique_names(as.character(names), length(groups), "defense")
  .check_flag(exact, "exact")
  .check_flag(correction, "correction")
  .check_alpha(alpha)
  p_adjust <- .check_choice(p_adjust, c("holm", "bonferroni", "hochberg", "hommel", "BH", "BY", "none"),
                            "p_adjust")
  v <- .check_paired(stats::setNames(groups, names))
  x <- do.call(cbind, v) * 1
  k <- ncol(x)
  n <- nrow(x)
  col_tot <- colSums(x)
  row_tot <- rowSums(x)
  total <- sum(x)
  statistic <- (k - 1) * (k * sum(col_tot^2) - total^2) / (k * total - sum(row_tot^2))
  pvalue <- stats::pchisq(statistic, df = k - 1, lower.tail = FALSE)
  pairs <- utils::combn(k, 2)
  rows <- lapply(seq_len(ncol(pairs)), function(p) {
    i <- pairs[1, p]
    j <- pairs[2, p]
    r <- .mcnemar_core(v[[i]], v[[j]], exact, correction)
    data.frame(group_a = names[i], group_b = names[j], b = r$b, c = r$c,
               statistic = r$statistic, pvalue = r$pvalue, stringsAsFactors = FALSE)
  })
  pairwise <- do.call(rbind, rows)
  pairwise$pvalue_adjusted <- stats::p.adjust(pairwise$pvalue, method = p_adjust)
  pairwise$reject <- !is.na(pairwise$pvalue_adjusted) & pairwise$pvalue_adjusted <= alpha
  .result(list(statistic = statistic, pvalue = pvalue, df = k - 1, k = k, n = n,
               p_adjust = p_adjust, method = "Cochran's Q test", pairwise = pairwise),
          "robustsk_cochran_q")
}
